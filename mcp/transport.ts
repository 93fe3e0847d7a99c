import fp from 'fastify-plugin'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { jsonRpcAnswer } from '../plugins/errors/answers.ts'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { missingScopes, stepUpScopes } from '../plugins/jwt-verify/rules.ts'
import { parseAuthorization } from '../plugins/shared/authorization-header.ts'
import type { UpstreamTokensApi } from '../plugins/oauth-proxy.ts'
import { loadTools, ToolError, ToolRegistry, type AnyTool, type GraphResponse, type ToolContext } from './registry.ts'
import { ServerPool, serveMcpRequest, toCallToolResult, type RequestScope } from './server.ts'
import { checkJsonRpcBody, jsonRpcError, toolCalls, INTERNAL_ERROR, SERVER_ERROR } from './jsonrpc.ts'

export interface McpPluginOptions {
  /** Tools to serve instead of the files in mcp/tools (tests). */
  tools?: AnyTool[]
  /** Tools served in addition to the files in mcp/tools (tests, embedding). */
  extraTools?: AnyTool[]
  /** The upstream token service for Graph (unit tests; default: `fastify.upstreamTokens` of the oauth proxy). */
  upstreamTokens?: Pick<UpstreamTokensApi, 'forGrant' | 'onBehalfOf'>
  /** A tool call still running after this long is answered with an `isError` result (default 30 s). */
  toolTimeoutMs?: number
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

const GRAPH_TIMEOUT_MS = 10_000
const TOOL_TIMEOUT_MS = 30_000
/** Past the tool timeout, how long a request may still wait for the server's answer before a 500. */
const ANSWER_MARGIN_MS = 5_000

/**
 * MCP over Streamable HTTP at `/mcp` with the official SDK: stateless, JSON responses, servers
 * pooled between requests (see mcp/server.ts). Before the SDK sees a request: Origin allowlist,
 * rate limit (family `mcp`), bearer authentication, JSON-RPC shape checks, and the scopes of
 * every `tools/call` (HTTP 403 `insufficient_scope` so clients can step up).
 */
export default fp(async function mcp (fastify, opts: McpPluginOptions) {
  const { config } = fastify
  const toolTimeoutMs = opts.toolTimeoutMs ?? TOOL_TIMEOUT_MS
  const registry = new ToolRegistry()
  for (const tool of opts.tools ?? await loadTools()) registry.add(tool)
  for (const tool of opts.extraTools ?? []) registry.add(tool)

  if (registry.list().length === 0) fastify.log.warn('no MCP tools found (mcp/tools is empty?)')
  const offered = new Set(config.scopes)
  for (const tool of registry.list()) {
    const unknown = tool.scopes.filter(s => !offered.has(s))
    if (unknown.length > 0) fastify.log.warn({ tool: tool.name, scopes: unknown }, 'tool needs scopes MCP_SCOPES does not offer: only app roles can call it')
  }

  const pool = new ServerPool(registry, {
    name: 'entra-mcp-gateway',
    version: config.version,
    instructions: 'Tools run as the signed-in Microsoft Entra ID user. Each tool lists the OAuth scopes it needs in _meta.'
  })
  fastify.decorate('mcpTools', { list: () => registry.list(), get: (name: string) => registry.get(name) })

  const allowedOrigins = new Set([...config.allowedOrigins, new URL(config.baseUrl).origin])

  /** DNS-rebinding protection: a browser's Origin must be allowlisted; non-browser clients send none. */
  async function checkOrigin (request: FastifyRequest, reply: FastifyReply) {
    const origin = request.headers.origin
    if (origin === undefined || allowedOrigins.has(origin)) return
    request.log.info({ origin }, 'mcp request from an origin not allowed')
    return await reply.code(403).send(jsonRpcError(SERVER_ERROR, 'Forbidden: Origin not allowed'))
  }

  async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    return await fastify.authenticate(request, reply)
  }

  /** A Microsoft Graph token for the caller of `request`, acquired server-side. */
  async function graphToken (request: FastifyRequest, identity: Identity): Promise<string> {
    const upstream = opts.upstreamTokens ?? fastify.upstreamTokens
    try {
      if (identity.kind === 'entra') {
        // The caller's own Entra token is the assertion for the on-behalf-of flow. It is read from
        // the request here, in the server, and never handed to a tool.
        const parsed = parseAuthorization(request.headers.authorization)
        if (parsed.kind !== 'bearer') throw new ToolError('No bearer token to exchange for Microsoft Graph.')
        return (await upstream.onBehalfOf(parsed.token)).accessToken
      }
      if (identity.grantId === undefined) throw new ToolError('This token is not tied to a sign-in grant, so it cannot reach Microsoft Graph. Sign in through this server\'s OAuth flow.')
      return (await upstream.forGrant(identity.grantId)).accessToken
    } catch (err) {
      if (err instanceof ToolError) throw err
      const code = (err as { code?: unknown }).code
      request.log.info({ reason: code, detail: (err as Error).message }, 'no Microsoft Graph token for this caller')
      throw upstreamError(err)
    }
  }

  /** `ctx.graph` of a tool: calls Microsoft Graph as the caller of `request`. */
  async function callGraph (request: FastifyRequest, identity: Identity, path: string, init: { signal?: AbortSignal } = {}): Promise<GraphResponse> {
    const token = await graphToken(request, identity)
    const timeout = AbortSignal.timeout(GRAPH_TIMEOUT_MS)
    const signal = init.signal !== undefined ? AbortSignal.any([timeout, init.signal]) : timeout
    let status: number
    let text: string
    try {
      const res = await fetch(`${config.graphBaseUrl}${path.startsWith('/') ? path : `/${path}`}`, {
        headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        signal
      })
      status = res.status
      text = await res.text()
    } catch (err) {
      // The caller cancelled: not Graph's fault, let the cancellation through as it is.
      if (init.signal?.aborted === true && !timeout.aborted) throw err
      const reason = timeout.aborted ? 'timeout' : 'network error'
      const cause = (err as { cause?: { code?: unknown, message?: unknown } }).cause
      request.log.warn({ reason, err: { name: (err as Error).name, message: (err as Error).message, code: cause?.code, cause: typeof cause?.message === 'string' ? cause.message : undefined } }, 'Microsoft Graph could not be reached')
      throw new ToolError(`Microsoft Graph could not be reached (${reason}); try again later.`)
    }
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    return { status, body }
  }

  /**
   * Runs one tool for the caller of `request`: its per-tool rate limit, the handler with its
   * context and timeout, the `tool.called` audit line. The context (frozen copies of the identity
   * and token report) is made here, per call, so requests that call no tool build none of it.
   */
  async function runTool (request: FastifyRequest, identity: Identity, tool: AnyTool, args: unknown, signal: AbortSignal): Promise<CallToolResult> {
    const started = performance.now()
    const done = (outcome: 'success' | 'failure' | 'denied', extra: Record<string, unknown> = {}) => {
      fastify.audit('tool.called', { tool: tool.name, outcome, duration_ms: Math.round((performance.now() - started) * 100) / 100, ...extra }, request)
    }
    // The handler's signal fires when the SDK cancels the request and at the timeout, so
    // well-behaved tools stop their work too. Made when the handler first reads it (most
    // tools never do; signals were a measurable part of each call), already aborted if the
    // request was cancelled or timed out by then.
    let controller: AbortController | undefined
    let expired = false
    const forward = () => { controller?.abort(signal.reason) }
    function handlerSignal (): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController()
        if (expired) controller.abort()
        else if (signal.aborted) controller.abort(signal.reason)
        else signal.addEventListener('abort', forward, { once: true })
      }
      return controller.signal
    }
    const ctx: ToolContext = {
      identity: Object.freeze({ ...identity, scopes: [...identity.scopes], roles: [...identity.roles] }),
      tokenReport: request.tokenReport !== undefined ? Object.freeze({ ...request.tokenReport }) : undefined,
      log: request.log,
      graph: async (path, init) => await callGraph(request, identity, path, init),
      get signal () { return handlerSignal() }
    }
    let timer: NodeJS.Timeout | undefined
    const timedOut = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        reject(new ToolError(`The tool ${tool.name} did not finish within ${toolTimeoutMs / 1000} s.`))
        expired = true
        controller?.abort()
      }, toolTimeoutMs)
    })
    timedOut.catch(() => {}) // observed by the race below; never an unhandled rejection
    try {
      if (tool.rateLimit !== undefined) {
        const limit = await fastify.consumeRateLimit(`tool:${tool.name}`, `${identity.tid ?? '-'}:${identity.oid ?? identity.sub}`, tool.rateLimit)
        if (!limit.allowed) {
          done('denied', { reason: limit.unavailable === true ? 'rate_limit_unavailable' : 'rate_limited' })
          const text = limit.unavailable === true
            ? `Rate limiting is unavailable, so ${tool.name} cannot run right now. Retry in ${limit.resetSeconds} s.`
            : `Rate limit for ${tool.name} reached (${tool.rateLimit.max} calls per ${tool.rateLimit.windowSeconds} s). Retry in ${limit.resetSeconds} s.`
          return { isError: true, content: [{ type: 'text', text }] }
        }
      }
      const result = toCallToolResult(tool, await Promise.race([tool.handler(args as never, ctx), timedOut]))
      done(result.isError === true ? 'failure' : 'success')
      return result
    } catch (err) {
      let message: string
      if (err instanceof ToolError) {
        message = err.message
      } else {
        request.log.error({ err, tool: tool.name }, 'tool failed')
        message = `The tool ${tool.name} failed unexpectedly (request id ${request.id}).`
      }
      done('failure', { reason: err instanceof ToolError ? 'tool_error' : 'exception' })
      return { isError: true, content: [{ type: 'text', text: message }] }
    } finally {
      clearTimeout(timer)
      if (controller !== undefined) signal.removeEventListener('abort', forward)
    }
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
      handler: async function mcpPost (request: FastifyRequest, reply) {
        const identity = request.identity
        if (identity === undefined) throw new Error('authenticate left no identity')
        const body = request.body
        const invalid = checkJsonRpcBody(body)
        if (invalid !== undefined) return await reply.code(invalid.status).send(invalid.body)

        for (const call of toolCalls(body)) {
          const tool = registry.get(call.name)
          if (tool === undefined) continue // the SDK answers unknown tools
          const missing = missingScopes(identity, tool.scopes)
          if (missing.length === 0) continue
          const description = `The tool ${tool.name} needs the scope${missing.length > 1 ? 's' : ''} ${missing.join(' ')}`
          fastify.audit('scope.denied', { outcome: 'denied', tool: tool.name, required: tool.scopes, missing }, request)
          reply.header('www-authenticate', fastify.bearerChallenge({ error: 'insufficient_scope', description, scope: stepUpScopes(identity, tool.scopes) }))
          return await reply.code(403).send(jsonRpcError(SERVER_ERROR, `Forbidden: ${description}`, call.id, { required_scopes: tool.scopes, missing_scopes: missing }))
        }

        let answer
        try {
          const scope: RequestScope = { callTool: async (tool, args, signal) => await runTool(request, identity, tool, args, signal) }
          answer = await serveMcpRequest(pool, scope, request.headers, body, { deadlineMs: toolTimeoutMs + ANSWER_MARGIN_MS })
        } catch (err) {
          request.log.error({ err }, 'mcp transport failed')
          return await reply.code(500).send(jsonRpcError(INTERNAL_ERROR, 'Internal error'))
        }
        if (answer.body === undefined) return await reply.code(answer.status).send()
        // A Buffer goes out as is: `Content-Type: application/json` exactly, as the SDK transport sent it.
        return await reply.code(answer.status).header('content-type', 'application/json').send(Buffer.from(answer.body))
      }
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

  fastify.addHook('onClose', async () => pool.clear())
}, { name: 'mcp', dependencies: ['config', 'audit-log', 'rate-limit', 'jwt-verify', 'oauth-proxy'] })

/**
 * Turns a failure of the upstream token service (`UpstreamTokenError` codes of the oauth proxy)
 * into a message the caller can act on. Entra's own error text stays in the log.
 */
export function upstreamError (err: unknown): ToolError {
  switch ((err as { code?: unknown }).code) {
    case 'graph_consent_required':
      return new ToolError('The sign-in grant has no consent for Microsoft Graph (User.Read). Sign in again and accept the Microsoft Graph permission, or ask an administrator to grant consent for the app registration.')
    case 'no_refresh_token':
      return new ToolError('The sign-in grant holds no Entra refresh token (offline_access was not granted), so Microsoft Graph cannot be reached. Sign in again.')
    case 'grant_not_found':
      return new ToolError('The sign-in behind this token no longer exists (revoked or expired). Sign in again.')
    case 'upstream_unavailable':
      return new ToolError('Microsoft Entra ID could not be reached for a Microsoft Graph token. Retry shortly.')
    case 'upstream_refused':
      return new ToolError('Microsoft Entra ID refused a Microsoft Graph token for this user. Sign in again; if it persists, check the app registration\'s Graph permissions.')
    default:
      return new ToolError('Could not get a Microsoft Graph token for this user right now. Retry later.')
  }
}
