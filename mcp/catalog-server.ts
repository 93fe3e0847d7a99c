// Registers the catalog's resources and prompts on an McpServer, the way mcp/server.ts registers
// tools: each listed with its scopes under `_meta`, its handler run for the request the pooled
// server is serving right now.
import type { CacheHint, GetPromptResult, ReadResourceResult, ScopeChallengeHandler } from '@modelcontextprotocol/server'
import { SCOPES_META_KEY } from './server.ts'
import type { Catalog, CatalogContext, CatalogRequest, PromptDefinition, ResourceDefinition } from './catalog.ts'

interface ResourceConfig {
  title: string
  description: string
  mimeType: string
  _meta: Record<string, unknown>
  cacheHint?: CacheHint
  scopeChallenge?: ScopeChallengeHandler
}
interface PromptConfig {
  title: string
  description: string
  _meta: Record<string, unknown>
  scopeChallenge?: ScopeChallengeHandler
}

/** What registration needs of an McpServer: `@modelcontextprotocol/server`'s, or the v1 SDK's (the same calls). */
export interface CatalogHost {
  registerResource: (name: string, uri: string, config: ResourceConfig, read: (uri: URL) => Promise<ReadResourceResult>) => unknown
  registerPrompt: (name: string, config: PromptConfig, get: () => Promise<GetPromptResult>) => unknown
  server: { registerCapabilities: (capabilities: { resources?: { listChanged: boolean }, prompts?: { listChanged: boolean } }) => void }
}

export interface RegisterCatalogOptions {
  /** The request being served (a pooled server: its slot's current request). */
  current: () => CatalogRequest | undefined
  /**
   * SDK v2 (`@modelcontextprotocol/server`) only: pass each definition's `cacheHint` and, when
   * given, a `scopeChallenge` made by this function from its scopes. False for a v1 McpServer,
   * which would list those options as fields of the resource.
   */
  v2Options: boolean
  scopeChallenge?: (scopes: readonly string[]) => ScopeChallengeHandler | undefined
}

export const JSON_MIME_TYPE = 'application/json'
const INVALID_PARAMS = -32602

function contextOf (catalog: Catalog, current: () => CatalogRequest | undefined): CatalogContext {
  const request = current()
  if (request === undefined) throw new Error('resource or prompt used outside a request')
  const { identity, log } = request
  return { identity: Object.freeze({ ...identity, scopes: [...identity.scopes], roles: [...identity.roles] }), service: catalog.service, log }
}

/** Runs a definition's handler; what it throws is logged, and the caller learns only that it failed. */
async function guarded<T> (ctx: CatalogContext, what: string, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (err) {
    ctx.log.error({ err, target: what }, 'MCP resource or prompt failed')
    throw new Error(`${what} failed unexpectedly`)
  }
}

function registerResource (server: CatalogHost, catalog: Catalog, def: ResourceDefinition, opts: RegisterCatalogOptions): void {
  const challenge = opts.v2Options ? opts.scopeChallenge?.(def.scopes) : undefined
  server.registerResource(def.name, def.uri, {
    title: def.title,
    description: def.description,
    mimeType: JSON_MIME_TYPE,
    _meta: { [SCOPES_META_KEY]: def.scopes },
    ...(opts.v2Options ? { cacheHint: def.cacheHint } : {}),
    ...(challenge !== undefined ? { scopeChallenge: challenge } : {})
  }, async () => {
    const ctx = contextOf(catalog, opts.current)
    const value = await guarded(ctx, `Reading ${def.uri}`, () => def.read(ctx))
    return { contents: [{ uri: def.uri, mimeType: JSON_MIME_TYPE, text: JSON.stringify(value) }] }
  })
}

function registerPrompt (server: CatalogHost, catalog: Catalog, def: PromptDefinition, opts: RegisterCatalogOptions): void {
  const challenge = opts.v2Options ? opts.scopeChallenge?.(def.scopes) : undefined
  server.registerPrompt(def.name, {
    title: def.title,
    description: def.description,
    _meta: { [SCOPES_META_KEY]: def.scopes },
    ...(challenge !== undefined ? { scopeChallenge: challenge } : {})
  }, async () => {
    const ctx = contextOf(catalog, opts.current)
    const result = await guarded(ctx, `The prompt ${def.name}`, () => def.get(ctx))
    if (typeof result !== 'string') return result
    return { description: def.description, messages: [{ role: 'user', content: { type: 'text', text: result } }] }
  })
}

/** A JSON-RPC error the SDK sends as is: `code`, `message` and `data` (SEP-2164: -32602 with the URI). */
function resourceNotFound (uri: string): Error {
  return Object.assign(new Error(`Resource ${uri} not found`), { code: INVALID_PARAMS, data: { uri } })
}

type RawHandler = (request: { params?: { uri?: unknown } }, extra: unknown) => Promise<unknown>

/**
 * Until mcp/server.ts moves to `@modelcontextprotocol/server`, whose McpServer does both itself:
 * the v1 McpServer answers an unknown URI without `data.uri` and lists prompts without their
 * `_meta`, so those two handlers are wrapped.
 */
function patchV1Server (server: CatalogHost, catalog: Catalog): void {
  const handlers = (server.server as unknown as { _requestHandlers?: Map<string, RawHandler> })._requestHandlers
  const wrap = (method: string, wrapper: (inner: RawHandler) => RawHandler) => {
    const inner = handlers?.get(method)
    if (handlers === undefined || inner === undefined) throw new Error(`cannot find the SDK's ${method} handler`)
    handlers.set(method, wrapper(inner))
  }
  if (catalog.resources().length > 0) {
    wrap('resources/read', read => async (request, extra) => {
      const uri = request.params?.uri
      if (typeof uri === 'string' && catalog.resource(uri) === undefined) throw resourceNotFound(uri)
      return await read(request, extra)
    })
  }
  if (catalog.prompts().length > 0) {
    wrap('prompts/list', list => async (request, extra) => {
      const result = await list(request, extra) as { prompts: Array<{ name: string, _meta?: unknown }> }
      const meta = (name: string) => { const def = catalog.prompt(name); return def !== undefined ? { _meta: { [SCOPES_META_KEY]: def.scopes } } : {} }
      return { ...result, prompts: result.prompts.map(p => ({ ...p, ...meta(p.name) })) }
    })
  }
}

/**
 * Registers every resource and prompt of `catalog` on `server`. The `resources` and `prompts`
 * capabilities are declared only when there is one to serve, with `listChanged: false`: the
 * catalog is loaded once at start and never changes.
 */
export function registerCatalog (server: CatalogHost, catalog: Catalog, opts: RegisterCatalogOptions): void {
  const resources = catalog.resources()
  const prompts = catalog.prompts()
  for (const def of resources) registerResource(server, catalog, def, opts)
  for (const def of prompts) registerPrompt(server, catalog, def, opts)
  if (!opts.v2Options) patchV1Server(server, catalog)
  server.server.registerCapabilities({
    ...(resources.length > 0 ? { resources: { listChanged: false } } : {}),
    ...(prompts.length > 0 ? { prompts: { listChanged: false } } : {})
  })
}
