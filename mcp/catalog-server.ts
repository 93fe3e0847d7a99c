// Registers the catalog's resources and prompts on an McpServer, the way mcp/server.ts registers
// tools: each listed with its scopes under `_meta`, its handler run for the request the pooled
// server is serving right now.
import type { McpServer, ScopeChallengeHandler } from '@modelcontextprotocol/server'
import { SCOPES_META_KEY } from './server.ts'
import type { Catalog, CatalogContext, CatalogRequest, PromptDefinition, ResourceDefinition } from './catalog.ts'

export interface RegisterCatalogOptions {
  /** The request being served (a pooled server: its slot's current request). */
  current: () => CatalogRequest | undefined
  /**
   * The SDK's scope check of one definition (2026-07-28 requests; the 2025 leg checks before the
   * SDK, in mcp/scopes.ts): the step-up challenge when the caller lacks one of `def.scopes`.
   */
  scopeChallenge: (def: { scopes: readonly string[] }) => ScopeChallengeHandler
}

export const JSON_MIME_TYPE = 'application/json'

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

function registerResource (server: McpServer, catalog: Catalog, def: ResourceDefinition, opts: RegisterCatalogOptions): void {
  server.registerResource(def.name, def.uri, {
    title: def.title,
    description: def.description,
    mimeType: JSON_MIME_TYPE,
    _meta: { [SCOPES_META_KEY]: def.scopes },
    cacheHint: def.cacheHint,
    scopeChallenge: opts.scopeChallenge(def)
  }, async () => {
    const ctx = contextOf(catalog, opts.current)
    const value = await guarded(ctx, `Reading ${def.uri}`, () => def.read(ctx))
    return { contents: [{ uri: def.uri, mimeType: JSON_MIME_TYPE, text: JSON.stringify(value) }] }
  })
}

function registerPrompt (server: McpServer, catalog: Catalog, def: PromptDefinition, opts: RegisterCatalogOptions): void {
  server.registerPrompt(def.name, {
    title: def.title,
    description: def.description,
    _meta: { [SCOPES_META_KEY]: def.scopes },
    scopeChallenge: opts.scopeChallenge(def)
  }, async () => {
    const ctx = contextOf(catalog, opts.current)
    const result = await guarded(ctx, `The prompt ${def.name}`, () => def.get(ctx))
    if (typeof result !== 'string') return result
    return { description: def.description, messages: [{ role: 'user', content: { type: 'text', text: result } }] }
  })
}

/**
 * Registers every resource and prompt of `catalog` on `server`. The `resources` and `prompts`
 * capabilities are declared only when there is one to serve, with `listChanged: false`: the
 * catalog is loaded once at start and never changes.
 */
export function registerCatalog (server: McpServer, catalog: Catalog, opts: RegisterCatalogOptions): void {
  const resources = catalog.resources()
  const prompts = catalog.prompts()
  // Before registering: the SDK keeps a listChanged it finds, and sets true otherwise.
  server.server.registerCapabilities({
    ...(resources.length > 0 ? { resources: { listChanged: false } } : {}),
    ...(prompts.length > 0 ? { prompts: { listChanged: false } } : {})
  })
  for (const def of resources) registerResource(server, catalog, def, opts)
  for (const def of prompts) registerPrompt(server, catalog, def, opts)
}
