// Resources and prompts, one file each like tools: `mcp/resources/<name>.ts` default-exports a
// `defineResource({...})`, `mcp/prompts/<name>.ts` a `definePrompt({...})`. Each names the scopes
// it needs; they are listed under the same `_meta` key as the tools' and checked before the SDK
// runs anything (mcp/scopes.ts), so a caller without them gets the same 403 step-up challenge.
import { readdir } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { CacheHint, GetPromptResult } from '@modelcontextprotocol/server'
import { publicConfig } from '../config/index.ts'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import type { AnyTool } from './registry.ts'

/** What the service offers every caller, the same for all requests. */
export interface CatalogService {
  /** The tools this server serves. */
  tools: () => readonly AnyTool[]
  /** The scopes a sign-in can grant (MCP_SCOPES); a scope outside it only comes as an app role. */
  offeredScopes: readonly string[]
  /** The non-secret configuration (what `/auth/info` shows). */
  publicConfig: () => Record<string, unknown>
}

/** Everything a resource or prompt receives. Nothing here carries a raw token. */
export interface CatalogContext {
  /** The verified caller (frozen copy). */
  identity: Readonly<Identity>
  service: CatalogService
  log: FastifyBaseLogger
}

/** The request a pooled server is serving right now, as the catalog needs it. */
export interface CatalogRequest {
  identity: Identity
  log: FastifyBaseLogger
}

/**
 * One resource, one file: `mcp/resources/<name>.ts` default-exports this. `read` returns the
 * JSON value served as the resource's text (`application/json`).
 */
export interface ResourceDefinition {
  name: string
  /** Absolute URI, unique among the resources; `entra-mcp-gateway://<name>` for the service's own. */
  uri: string
  title: string
  description: string
  /** Every one of these scopes (or app roles of the same name) is needed to read the resource. */
  scopes: string[]
  /** How long and by whom a `resources/read` result may be cached (2026-07-28 `ttlMs` / `cacheScope`). */
  cacheHint: Required<CacheHint>
  read: (ctx: CatalogContext) => unknown
}

/** One prompt, one file: `mcp/prompts/<name>.ts` default-exports this. Prompts take no arguments. */
export interface PromptDefinition {
  name: string
  title: string
  description: string
  /** Every one of these scopes (or app roles of the same name) is needed to get the prompt. */
  scopes: string[]
  /** The prompt's text (sent as one user message), or a whole `GetPromptResult`. */
  get: (ctx: CatalogContext) => string | GetPromptResult | Promise<string | GetPromptResult>
}

/** Identity functions that give a resource or prompt file its types. */
export function defineResource (def: ResourceDefinition): ResourceDefinition {
  return def
}
export function definePrompt (def: PromptDefinition): PromptDefinition {
  return def
}

/** The scheme of the URIs of this service's own resources. */
export const RESOURCE_SCHEME = 'entra-mcp-gateway'

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const MAX_TTL_MS = 24 * 3600 * 1000

function commonProblems (d: Partial<ResourceDefinition & PromptDefinition>, fileName: string | undefined): string[] {
  const problems: string[] = []
  if (typeof d.name !== 'string' || !NAME.test(d.name)) problems.push('name must be 1-64 letters, digits, _ - .')
  if (fileName !== undefined && d.name !== fileName) problems.push(`name "${String(d.name)}" must equal the file name "${fileName}"`)
  if (typeof d.title !== 'string' || d.title === '') problems.push('title is required')
  if (typeof d.description !== 'string' || d.description === '') problems.push('description is required')
  if (!Array.isArray(d.scopes) || d.scopes.some(s => typeof s !== 'string' || !/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(s))) {
    problems.push('scopes must be an array of scope names (may be empty)')
  }
  return problems
}

/** Checks one resource definition; returns the problems found (empty when fine). */
export function resourceProblems (def: unknown, fileName?: string): string[] {
  if (typeof def !== 'object' || def === null) return ['does not default-export a resource definition']
  const d = def as Partial<ResourceDefinition>
  const problems = commonProblems(d, fileName)
  let uri: URL | undefined
  try { uri = new URL(String(d.uri)) } catch {}
  // The SDK finds a resource by the parsed URI's text: a URI that parses to another text is never found.
  if (typeof d.uri !== 'string' || uri === undefined || uri.href !== d.uri) problems.push('uri must be an absolute URI in normal form')
  const hint = d.cacheHint
  if (typeof hint !== 'object' || hint === null || !Number.isSafeInteger(hint.ttlMs) || hint.ttlMs < 0 || hint.ttlMs > MAX_TTL_MS ||
    (hint.cacheScope !== 'public' && hint.cacheScope !== 'private')) {
    problems.push('cacheHint must be { ttlMs: 0..86400000, cacheScope: "public" | "private" }')
  }
  if (typeof d.read !== 'function') problems.push('read must be a function')
  return problems
}

/** Checks one prompt definition; returns the problems found (empty when fine). */
export function promptProblems (def: unknown, fileName?: string): string[] {
  if (typeof def !== 'object' || def === null) return ['does not default-export a prompt definition']
  const d = def as Partial<PromptDefinition>
  const problems = commonProblems(d, fileName)
  if (typeof d.get !== 'function') problems.push('get must be a function')
  return problems
}

/** The resources (by URI) and prompts (by name) one server serves. */
export class Catalog {
  readonly #resources = new Map<string, ResourceDefinition>()
  readonly #prompts = new Map<string, PromptDefinition>()
  readonly service: CatalogService

  constructor (service: CatalogService, resources: readonly ResourceDefinition[] = [], prompts: readonly PromptDefinition[] = []) {
    this.service = service
    for (const r of resources) this.addResource(r)
    for (const p of prompts) this.addPrompt(p)
  }

  addResource (def: ResourceDefinition): void {
    const problems = resourceProblems(def)
    if (problems.length > 0) throw new Error(`Resource ${String(def?.name)}: ${problems.join('; ')}`)
    if (this.#resources.has(def.uri)) throw new Error(`Resource ${def.uri} is defined twice`)
    this.#resources.set(def.uri, def)
  }

  addPrompt (def: PromptDefinition): void {
    const problems = promptProblems(def)
    if (problems.length > 0) throw new Error(`Prompt ${String(def?.name)}: ${problems.join('; ')}`)
    if (this.#prompts.has(def.name)) throw new Error(`Prompt ${def.name} is defined twice`)
    this.#prompts.set(def.name, def)
  }

  /** The resource at `uri` (compared in the parsed form the SDK uses), if any. */
  resource (uri: string): ResourceDefinition | undefined {
    const exact = this.#resources.get(uri)
    if (exact !== undefined) return exact
    try { return this.#resources.get(new URL(uri).href) } catch { return undefined }
  }

  prompt (name: string): PromptDefinition | undefined {
    return this.#prompts.get(name)
  }

  resources (): ResourceDefinition[] {
    return [...this.#resources.values()]
  }

  prompts (): PromptDefinition[] {
    return [...this.#prompts.values()]
  }
}

const loaded = new Map<string, Promise<unknown[]>>()

/**
 * Imports every definition file in `folder` (`.ts` from source, `.js` when built), once per
 * folder and process (as loadTools does), checking each with `problemsOf`.
 */
async function loadFolder<T> (folder: URL, problemsOf: (def: unknown, fileName: string) => string[]): Promise<T[]> {
  let defs = loaded.get(folder.href)
  if (defs === undefined) {
    defs = importFolder(folder, problemsOf)
    loaded.set(folder.href, defs)
    defs.catch(() => loaded.delete(folder.href))
  }
  return [...await defs] as T[]
}

async function importFolder (folder: URL, problemsOf: (def: unknown, fileName: string) => string[]): Promise<unknown[]> {
  const ext = extname(fileURLToPath(import.meta.url))
  const dir = fileURLToPath(folder)
  let files: string[]
  try {
    files = await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
  const defs: unknown[] = []
  for (const file of files.filter(f => f.endsWith(ext) && !f.endsWith(`.d${ext}`) && !f.includes('.test.')).sort()) {
    const mod = await import(pathToFileURL(`${dir}/${file}`).href)
    const problems = problemsOf(mod.default, basename(file, ext))
    if (problems.length > 0) throw new Error(`${fileURLToPath(new URL(file, folder))}: ${problems.join('; ')}`)
    defs.push(mod.default)
  }
  return defs
}

/** The resources of mcp/resources (one file each; the file name is the resource name). */
export async function loadResources (folder: URL = new URL('./resources/', import.meta.url)): Promise<ResourceDefinition[]> {
  return await loadFolder<ResourceDefinition>(folder, resourceProblems)
}

/** The prompts of mcp/prompts (one file each; the file name is the prompt name). */
export async function loadPrompts (folder: URL = new URL('./prompts/', import.meta.url)): Promise<PromptDefinition[]> {
  return await loadFolder<PromptDefinition>(folder, promptProblems)
}

export interface CatalogOptions {
  /** Served in addition to the files in mcp/resources and mcp/prompts (tests, embedding). */
  extraResources?: ResourceDefinition[]
  extraPrompts?: PromptDefinition[]
}

/** The catalog the /mcp plugin serves: the files of mcp/resources and mcp/prompts, and `extra*`. */
export async function buildCatalog (fastify: FastifyInstance, tools: () => readonly AnyTool[], opts: CatalogOptions = {}): Promise<Catalog> {
  const { config } = fastify
  const service: CatalogService = {
    tools,
    offeredScopes: config.scopes,
    publicConfig: () => publicConfig(config, fastify.store.kind)
  }
  const resources = [...await loadResources(), ...opts.extraResources ?? []]
  const prompts = [...await loadPrompts(), ...opts.extraPrompts ?? []]
  const catalog = new Catalog(service, resources, prompts)
  const offered = new Set(config.scopes)
  for (const def of [...resources, ...prompts]) {
    const unknown = def.scopes.filter(s => !offered.has(s))
    if (unknown.length > 0) fastify.log.warn({ name: def.name, scopes: unknown }, 'resource or prompt needs scopes MCP_SCOPES does not offer: only app roles can use it')
  }
  return catalog
}
