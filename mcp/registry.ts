import { readdir } from 'node:fs/promises'
import { basename, extname } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { FastifyBaseLogger } from 'fastify'
import type { CallToolResult, InputRequiredResult, ToolAnnotations } from '@modelcontextprotocol/server'
import * as z from 'zod'
import createError from '@fastify/error'
import type { RateRule } from '../config/index.ts'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import type { ToolInput } from './input-required.ts'

/** What a tool may learn about the token used for this request (never the token itself). */
export interface TokenReportView {
  [field: string]: unknown
}

/** Everything a tool handler receives besides its arguments. Nothing here carries a raw token. */
export interface ToolContext {
  /** The verified caller (frozen copy). */
  identity: Readonly<Identity>
  /** The validation report of the bearer token of this request (validate_token). */
  tokenReport: Readonly<TokenReportView> | undefined
  /** Request-scoped logger (request id attached). */
  log: FastifyBaseLogger
  /** Aborted when the client goes away. */
  signal: AbortSignal
  /** Calls Microsoft Graph as the signed-in user (token acquired server-side); the token never reaches the tool. */
  graph: (path: string, init?: { signal?: AbortSignal }) => Promise<GraphResponse>
  /**
   * Asking the client for input before acting (2026-07-28 requests): return
   * `await ctx.input.required({ inputRequests, state })`, read the answers on the retry with
   * `ctx.input.response(key)` and `ctx.input.state()`. See docs/mcp.md "Input-required results".
   */
  input: ToolInput
  /**
   * Ends the caller's own sign-in (the grant behind a token this service issued): every token of
   * it stops working. False when the token is not one of this service's (an Entra token).
   */
  endOwnSignIn: () => Promise<boolean>
}

export interface GraphResponse {
  status: number
  body: unknown
}

type Shape = z.ZodRawShape
type HandlerValue<Out extends Shape> = z.infer<z.ZodObject<Out>> | ToolResult | InputRequiredResult

/**
 * One tool, one file: `mcp/tools/<name>.ts` default-exports this.
 * The handler returns structured data (validated against `outputSchema` when given, and also
 * sent as JSON text for clients that ignore structured content), or a full `CallToolResult`
 * built with `toolResult()`. Throw `ToolError` for a message meant for the caller; any other
 * error becomes a generic `isError` result (details only in the log).
 */
export interface ToolDefinition<In extends Shape = Shape, Out extends Shape = Shape> {
  name: string
  title: string
  description: string
  inputSchema: z.ZodObject<In>
  outputSchema?: z.ZodObject<Out>
  /** Every one of these scopes (or app roles of the same name) is needed to call the tool. */
  scopes: string[]
  /** Optional per-caller limit for this tool (on top of the /mcp limit). */
  rateLimit?: RateRule
  annotations?: ToolAnnotations
  handler: (args: z.infer<z.ZodObject<In>>, ctx: ToolContext) => Promise<HandlerValue<Out>> | HandlerValue<Out>
}

/** Identity function that gives a tool file its types. */
export function defineTool<In extends Shape, Out extends Shape> (def: ToolDefinition<In, Out>): ToolDefinition<In, Out> {
  return def
}

const RESULT = Symbol('toolResult')
export interface ToolResult { [RESULT]: true, result: CallToolResult }

/** Wraps a hand-made `CallToolResult` so the registry passes it through unchanged. */
export function toolResult (result: CallToolResult): ToolResult {
  return { [RESULT]: true, result }
}

export function isToolResult (value: unknown): value is ToolResult {
  return typeof value === 'object' && value !== null && (value as ToolResult)[RESULT] === true
}

/** An error whose message is shown to the caller as the tool's `isError` result. */
export class ToolError extends createError<[string]>('FST_MCP_TOOL_ERROR', '%s') {
  constructor (message: string) {
    super(message)
    this.name = 'ToolError'
  }
}

/**
 * The caller's sign-in has ended while a tool ran (Conditional Access asked for more): the MCP
 * request is answered HTTP 401 `invalid_token`, which clients of either revision act on by signing in again.
 */
export class SignInAgainError extends ToolError {
  // @fastify/error's instanceof matches by code, which a subclass shares: this field tells them apart.
  readonly signInAgain = true
  constructor (message: string) {
    super(message)
    this.name = 'SignInAgainError'
  }
}

export function isSignInAgain (err: unknown): err is SignInAgainError {
  return (err as { signInAgain?: unknown } | null)?.signInAgain === true
}

// MCP tool names: 1-64 of letters, digits, `_`, `-`, `.` (SEP-986).
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,64}$/

export type AnyTool = ToolDefinition<any, any>

/** Checks one definition; returns the problems found (empty when fine). */
export function toolProblems (def: unknown, fileName?: string): string[] {
  const problems: string[] = []
  if (typeof def !== 'object' || def === null) return ['does not default-export a tool definition']
  const d = def as Partial<AnyTool>
  if (typeof d.name !== 'string' || !TOOL_NAME.test(d.name)) problems.push('name must be 1-64 letters, digits, _ - .')
  if (fileName !== undefined && d.name !== fileName) problems.push(`name "${String(d.name)}" must equal the file name "${fileName}"`)
  if (typeof d.title !== 'string' || d.title === '') problems.push('title is required')
  if (typeof d.description !== 'string' || d.description === '') problems.push('description is required')
  if (!(d.inputSchema instanceof z.ZodObject)) problems.push('inputSchema must be a zod object schema')
  if (d.outputSchema !== undefined && !(d.outputSchema instanceof z.ZodObject)) problems.push('outputSchema must be a zod object schema')
  if (!Array.isArray(d.scopes) || d.scopes.some(s => typeof s !== 'string' || s === '')) problems.push('scopes must be an array of scope names (may be empty)')
  if (d.rateLimit !== undefined && !(Number.isInteger(d.rateLimit.max) && d.rateLimit.max > 0 && Number.isInteger(d.rateLimit.windowSeconds) && d.rateLimit.windowSeconds > 0)) {
    problems.push('rateLimit must be { max, windowSeconds } with positive integers')
  }
  if (typeof d.handler !== 'function') problems.push('handler must be a function')
  return problems
}

/** The tools, by name, in a stable order. */
export class ToolRegistry {
  readonly #tools = new Map<string, AnyTool>()
  #version = 0

  add (def: AnyTool, source = def?.name): void {
    const problems = toolProblems(def)
    if (problems.length > 0) throw new Error(`Tool ${source}: ${problems.join('; ')}`)
    if (this.#tools.has(def.name)) throw new Error(`Tool ${def.name} is defined twice`)
    this.#tools.set(def.name, def)
    this.#version++
  }

  get (name: string): AnyTool | undefined {
    return this.#tools.get(name)
  }

  list (): AnyTool[] {
    return [...this.#tools.values()]
  }

  /** Changes whenever a tool is added, so pooled servers built from an older set are dropped. */
  get version (): number {
    return this.#version
  }
}

const loaded = new Map<string, Promise<AnyTool[]>>()

/**
 * Imports every tool file in `folder` (`.ts` when running from source, `.js` when built).
 * Adding a tool is adding a file; the file name is the tool name.
 */
export async function loadTools (folder: URL = new URL('./tools/', import.meta.url)): Promise<AnyTool[]> {
  // Imported once per folder and process: every app build (tests build hundreds) would otherwise
  // import each tool again, and each import is a round trip to the module loader's hooks thread.
  let tools = loaded.get(folder.href)
  if (tools === undefined) {
    tools = importTools(folder)
    loaded.set(folder.href, tools)
    tools.catch(() => loaded.delete(folder.href))
  }
  return [...await tools]
}

async function importTools (folder: URL): Promise<AnyTool[]> {
  const ext = extname(fileURLToPath(import.meta.url)) // '.ts' from source, '.js' from dist
  const dir = fileURLToPath(folder)
  const files = (await readdir(dir))
    .filter(f => f.endsWith(ext) && !f.endsWith(`.d${ext}`) && !f.includes('.test.'))
    .sort()
  const tools: AnyTool[] = []
  for (const file of files) {
    const mod = await import(pathToFileURL(`${dir}/${file}`).href)
    const name = basename(file, ext)
    const problems = toolProblems(mod.default, name)
    if (problems.length > 0) throw new Error(`mcp/tools/${file}: ${problems.join('; ')}`)
    tools.push(mod.default)
  }
  return tools
}
