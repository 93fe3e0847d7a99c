import fp from 'fastify-plugin'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { jsonRpcAnswer } from '../plugins/errors/answers.ts'
import { loadTools, ToolRegistry, type AnyTool } from './registry.ts'
import { ServerPool, serveMcpRequest, type RequestScope } from './server.ts'
import { checkJsonRpcBody, jsonRpcError, idOf, INTERNAL_ERROR, SERVER_ERROR } from './jsonrpc.ts'
import { createOriginCheck } from './origin.ts'
import { refuseScopes, scopeChallenge, scopeShortfall } from './scopes.ts'
import { callerOfContext, createModernLeg } from './modern.ts'
import { createStateCodec } from './input-required.ts'
import { eraOf } from './era.ts'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { createGraphCall, type UpstreamTokens } from './graph.ts'
import { createToolRunner, signInAgainFor, type RunTool } from './tool-runner.ts'
import { buildCatalog, type Catalog, type CatalogOptions } from './catalog.ts'

export interface McpPluginOptions extends CatalogOptions {
  /** Tools to serve instead of the files in mcp/tools (tests). */
  tools?: AnyTool[]
  /** Tools served in addition to the files in mcp/tools (tests, embedding). */
  extraTools?: AnyTool[]
  /** The upstream token service for Graph (unit tests; default: `fastify.upstreamTokens` of the oauth proxy). */
  upstreamTokens?: UpstreamTokens
  /** A tool call still running after this long is answered with an `isError` result (default 30 s). */
  toolTimeoutMs?: number
  /** false: every 2026-07-28 request through createMcpHandler (tests compare the direct path with it). */
  directModernPath?: boolean
}

export interface McpTools {
  list: () => AnyTool[]
  get: (name: string) => AnyTool | undefined
}

declare module 'fastify' {
  interface FastifyInstance {
    mcpTools: McpTools
  }
}

const TOOL_TIMEOUT_MS = 30_000
/** Past the tool timeout, how long a request may still wait for the server's answer before a 500. */
const ANSWER_MARGIN_MS = 5_000

/** The tools to serve; tools needing a scope MCP_SCOPES does not offer are only callable with app roles. */
async function toolRegistry (fastify: FastifyInstance, opts: McpPluginOptions): Promise<ToolRegistry> {
  const registry = new ToolRegistry()
  for (const tool of opts.tools ?? await loadTools()) registry.add(tool)
  for (const tool of opts.extraTools ?? []) registry.add(tool)
  if (registry.list().length === 0) fastify.log.warn('no MCP tools found (mcp/tools is empty?)')
  const offered = new Set(fastify.config.scopes)
  for (const tool of registry.list()) {
    const unknown = tool.scopes.filter(s => !offered.has(s))
    if (unknown.length > 0) fastify.log.warn({ tool: tool.name, scopes: unknown }, 'tool needs scopes MCP_SCOPES does not offer: only app roles can call it')
  }
  return registry
}

/** What every pooled server says about itself, and the codec of its input-required state. */
function serverInfo (config: FastifyInstance['config'], catalog: Catalog) {
  return {
    name: 'entra-mcp-gateway',
    version: config.version,
    instructions: 'Tools run as the signed-in Microsoft Entra ID user. Each tool, resource and prompt lists the OAuth scopes it needs in _meta.',
    catalog,
    // Bound to the caller the modern leg lends its server to (mcp/modern.ts); see mcp/input-required.ts.
    requestState: createStateCodec(config.encryptionKey, callerOfContext)
  }
}

/**
 * MCP over Streamable HTTP at `/mcp` with the official SDK: stateless, JSON responses, servers
 * pooled between requests (see mcp/server.ts). Before the SDK sees a request: Origin allowlist
 * (mcp/origin.ts), rate limit (family `mcp`), bearer authentication, JSON-RPC shape checks, and
 * the scopes of every `tools/call` (mcp/scopes.ts: HTTP 403 `insufficient_scope` so clients can
 * step up). Tools run through mcp/tool-runner.ts, Microsoft Graph through mcp/graph.ts.
 */
export default fp(async function mcp (fastify, opts: McpPluginOptions) {
  const { config } = fastify
  const toolTimeoutMs = opts.toolTimeoutMs ?? TOOL_TIMEOUT_MS
  const registry = await toolRegistry(fastify, opts)
  const catalog = await buildCatalog(fastify, () => registry.list(), opts)
  const info = serverInfo(config, catalog)
  const requestState = info.requestState
  const pool = new ServerPool(registry, info)
  const modern = createModernLeg(registry, info, err => fastify.log.debug({ err }, 'mcp request refused'), { direct: opts.directModernPath ?? true })
  fastify.decorate('mcpTools', { list: () => registry.list(), get: (name: string) => registry.get(name) })

  const callGraph = createGraphCall(config.graphBaseUrl, () => opts.upstreamTokens ?? fastify.upstreamTokens)
  const runTool = createToolRunner(fastify, callGraph, toolTimeoutMs, requestState)
  const checkOrigin = createOriginCheck(new Set([...config.allowedOrigins, new URL(config.baseUrl).origin]))
  async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    return await fastify.authenticate(request, reply)
  }

  await fastify.register(async function mcpRoutes (app) {
    // JSON only (415 for anything else, text/plain included); __proto__ / constructor keys refused.
    app.removeAllContentTypeParsers()
    app.addContentTypeParser('application/json', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'))

    // The MCP area answers in JSON-RPC, including for errors raised before a handler runs.
    app.setErrorHandler(function (err: FastifyError, request, reply) {
      const answer = jsonRpcAnswer(err, request.log)
      if (answer.headers !== undefined) reply.headers(answer.headers)
      return reply.code(answer.status).send(answer.body)
    })

    app.route({
      method: 'POST',
      url: '/mcp',
      bodyLimit: config.bodyLimit,
      config: { rateLimitFamily: 'mcp' },
      onRequest: [checkOrigin, authenticate],
      handler: mcpPost({ fastify, registry, catalog, pool, modern, runTool, deadlineMs: toolTimeoutMs + ANSWER_MARGIN_MS })
    })

    // Stateless: no server-to-client stream (GET) and no session to end (DELETE).
    app.route({
      method: ['GET', 'DELETE'],
      url: '/mcp',
      config: { rateLimitFamily: 'mcp' },
      onRequest: [checkOrigin, authenticate],
      handler: async function mcpNotAllowed (request, reply) {
        return await reply.code(405).header('allow', 'POST').send(jsonRpcError(SERVER_ERROR, `Method not allowed: this server is stateless; use POST (got ${request.method})`))
      }
    })
  })

  fastify.addHook('onClose', async () => {
    pool.clear()
    await modern.close()
  })
}, { name: 'mcp', dependencies: ['config', 'audit-log', 'rate-limit', 'jwt-verify', 'oauth-proxy'] })

interface PostContext {
  fastify: FastifyInstance
  registry: ToolRegistry
  catalog: Catalog
  pool: ServerPool
  modern: ReturnType<typeof createModernLeg>
  runTool: RunTool
  deadlineMs: number
}

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/**
 * The POST /mcp handler. The body is sorted by era (mcp/era.ts, the SDK's classifier where it is
 * not obvious): a 2026-07-28 request goes to the SDK's handler (mcp/modern.ts), a 2025-era one
 * (initialize, no `_meta` claim, batches) to the pooled servers over the in-process transport; a
 * body neither era accepts is refused with the classifier's code, the request id echoed. Scopes
 * are checked before any tool runs on both legs, and once more when a tool is about to run.
 */
function mcpPost (ctx: PostContext) {
  const { fastify, registry, catalog } = ctx
  return async function mcpPost (request: FastifyRequest, reply: FastifyReply) {
    const identity = request.identity
    if (identity === undefined) throw new Error('authenticate left no identity')
    const body = request.body
    const invalid = checkJsonRpcBody(body)
    if (invalid !== undefined) return await reply.code(invalid.status).send(invalid.body)

    const route = eraOf(body, { protocolVersion: header(request, 'mcp-protocol-version'), method: header(request, 'mcp-method'), name: header(request, 'mcp-name') })
    if (route.kind === 'reject') {
      return await reply.code(route.httpStatus).send(jsonRpcError(route.code, route.message, idOf(body), route.data))
    }
    const scope: RequestScope = {
      callTool: async (tool, args, signal, context) => {
        // Both legs refused this before; should a path ever reach a tool without, it does not run.
        if (scopeChallenge(identity, tool) !== undefined) throw new Error(`scope check bypassed for ${tool.name}`)
        return await ctx.runTool(request, identity, tool, args, signal, context)
      },
      scopeChallenge: target => scopeChallenge(identity, target),
      caller: { identity, log: request.log }
    }
    if (route.kind === 'modern') return await serveModern(ctx, request, reply, identity, scope)

    const shortfall = scopeShortfall(identity, body, name => registry.get(name), catalog)
    if (shortfall !== undefined) return await refuseScopes(fastify, request, reply, identity, shortfall)
    return await serveLegacy(ctx, request, reply, scope)
  }
}

async function serveLegacy ({ pool, deadlineMs }: PostContext, request: FastifyRequest, reply: FastifyReply, scope: RequestScope) {
  let answer
  try {
    answer = await serveMcpRequest(pool, scope, request.headers, request.body, { deadlineMs })
  } catch (err) {
    request.log.error({ err }, 'mcp transport failed')
    return await reply.code(500).send(jsonRpcError(INTERNAL_ERROR, 'Internal error', idOf(request.body)))
  }
  if (signInAgainFor(request) !== undefined) return await answerSignInAgain(request, reply)
  if (answer.body === undefined) return await reply.code(answer.status).send()
  // A Buffer goes out as is: `Content-Type: application/json` exactly, as the SDK transport sent it.
  return await reply.code(answer.status).header('content-type', 'application/json').send(Buffer.from(answer.body))
}

/**
 * The SDK's handler answers; a 403 it gives comes from our `scopeChallenge` (the caller lacks a
 * scope of the tool) and is replaced by the same answer the legacy leg gives: JSON-RPC error with
 * the id, the step-up challenge, the `scope.denied` audit.
 */
async function serveModern ({ fastify, registry, catalog, modern }: PostContext, request: FastifyRequest, reply: FastifyReply, identity: Identity, scope: RequestScope) {
  let answer
  try {
    answer = await modern.serve(request, request.body, scope, { token: '', clientId: identity.clientId ?? '', scopes: identity.scopes })
  } catch (err) {
    request.log.error({ err }, 'mcp handler failed')
    return await reply.code(500).send(jsonRpcError(INTERNAL_ERROR, 'Internal error', idOf(request.body)))
  }
  if (answer.status === 403) {
    const shortfall = scopeShortfall(identity, request.body, name => registry.get(name), catalog)
    if (shortfall !== undefined) return await refuseScopes(fastify, request, reply, identity, shortfall)
  }
  if (signInAgainFor(request) !== undefined) return await answerSignInAgain(request, reply)
  reply.code(answer.status).headers(answer.headers)
  if (typeof answer.body === 'string') return await reply.send(Buffer.from(answer.body))
  return await reply.send(answer.body)
}

/**
 * A tool found the caller's sign-in ended (Conditional Access: mcp/graph.ts): HTTP 401 `invalid_token`
 * with the reason, which clients of both revisions answer by signing in again; the JSON-RPC body keeps the id.
 */
async function answerSignInAgain (request: FastifyRequest, reply: FastifyReply) {
  const reason = signInAgainFor(request) ?? 'Sign in again.'
  return await reply.code(401)
    .header('www-authenticate', request.server.bearerChallenge({ error: 'invalid_token', description: reason }))
    .send(jsonRpcError(SERVER_ERROR, reason, idOf(request.body)))
}
