// Running one tool for the caller of a request: its per-tool rate limit, the handler with its
// context and timeout, the `tool.called` audit line.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { CallToolResult, InputRequiredResult, RequestStateCodec, ServerContext } from '@modelcontextprotocol/server'
import type { Identity } from '../plugins/jwt-verify/identity.ts'
import { isSignInAgain, ToolError, type AnyTool, type ToolContext } from './registry.ts'
import { toCallToolResult } from './server.ts'
import type { GraphCall } from './graph.ts'
import { toolInput, type SealedState, type ToolInput } from './input-required.ts'

type Outcome = 'success' | 'failure' | 'denied'
export type RunTool = (request: FastifyRequest, identity: Identity, tool: AnyTool, args: unknown, signal: AbortSignal, context?: ServerContext) => Promise<CallToolResult | InputRequiredResult>

const errorResult = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] })

/**
 * The handler's signal: fires when the SDK cancels the request (`request`) and at the timeout,
 * so well-behaved tools stop their work too. Made when the handler first reads it (most tools
 * never do; signals were a measurable part of each call), already aborted if the request was
 * cancelled or timed out by then.
 */
export function lazyHandlerSignal (request: AbortSignal) {
  let controller: AbortController | undefined
  let expired = false
  const forward = () => { controller?.abort(request.reason) }
  return {
    get (): AbortSignal {
      if (controller === undefined) {
        controller = new AbortController()
        if (expired) controller.abort()
        else if (request.aborted) controller.abort(request.reason)
        else request.addEventListener('abort', forward, { once: true })
      }
      return controller.signal
    },
    expire () { expired = true; controller?.abort() },
    release () { if (controller !== undefined) request.removeEventListener('abort', forward) }
  }
}

/** Rejects (and fires the handler's signal) when the tool runs past its time. */
function deadline (tool: AnyTool, toolTimeoutMs: number, handlerSignal: ReturnType<typeof lazyHandlerSignal>) {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      reject(new ToolError(`The tool ${tool.name} did not finish within ${toolTimeoutMs / 1000} s.`))
      handlerSignal.expire()
    }, toolTimeoutMs)
  })
  timedOut.catch(() => {}) // observed by the caller's race; never an unhandled rejection
  return { timedOut, timer }
}

/** Revokes the grant of a token this service issued (the caller's own; never taken from arguments). */
function endOwnSignIn (fastify: FastifyInstance, request: FastifyRequest, identity: Identity) {
  return async (): Promise<boolean> => {
    if (identity.kind !== 'self' || identity.grantId === undefined) return false
    await fastify.grants.revoke(identity.grantId, 'revoked_by_user', request)
    return true
  }
}

export function createToolRunner (fastify: FastifyInstance, callGraph: GraphCall, toolTimeoutMs: number, stateCodec?: RequestStateCodec<SealedState>): RunTool {
  /** The tool's own rate limit: an `isError` result when it is spent, else undefined. */
  async function rateLimited (identity: Identity, tool: AnyTool, done: (outcome: Outcome, extra?: Record<string, unknown>) => void): Promise<CallToolResult | undefined> {
    if (tool.rateLimit === undefined) return undefined // for the type; runTool asks only for tools with a limit
    const limit = await fastify.consumeRateLimit(`tool:${tool.name}`, `${identity.tid ?? '-'}:${identity.oid ?? identity.sub}`, tool.rateLimit)
    if (limit.allowed) return undefined
    done('denied', { reason: limit.unavailable === true ? 'rate_limit_unavailable' : 'rate_limited' })
    return errorResult(limit.unavailable === true
      ? `Rate limiting is unavailable, so ${tool.name} cannot run right now. Retry in ${limit.resetSeconds} s.`
      : `Rate limit for ${tool.name} reached (${tool.rateLimit.max} calls per ${tool.rateLimit.windowSeconds} s). Retry in ${limit.resetSeconds} s.`)
  }

  /**
   * The context (frozen copies of the identity and token report) is made here, per call, so
   * requests that call no tool build none of it.
   */
  return async function runTool (request, identity, tool, args, signal, context) {
    const started = performance.now()
    const done = (outcome: Outcome, extra: Record<string, unknown> = {}) => {
      fastify.audit('tool.called', { tool: tool.name, outcome, duration_ms: Math.round((performance.now() - started) * 100) / 100, ...extra }, request)
    }
    const handlerSignal = lazyHandlerSignal(signal)
    let input: ToolInput | undefined
    const ctx: ToolContext = {
      identity: Object.freeze({ ...identity, scopes: [...identity.scopes], roles: [...identity.roles] }),
      tokenReport: request.tokenReport !== undefined ? Object.freeze({ ...request.tokenReport }) : undefined,
      log: request.log,
      graph: async (path, init) => await callGraph(request, identity, path, init),
      endOwnSignIn: endOwnSignIn(fastify, request, identity),
      get signal () { return handlerSignal.get() },
      // Built when a tool first reads it: most calls never ask for input.
      get input () { return (input ??= toolInput(tool.name, context, stateCodec)) }
    }
    const { timedOut, timer } = deadline(tool, toolTimeoutMs, handlerSignal)
    try {
      if (tool.rateLimit !== undefined) {
        const refused = await rateLimited(identity, tool, done)
        if (refused !== undefined) return refused
      }
      const result = toCallToolResult(tool, await Promise.race([tool.handler(args as never, ctx), timedOut]))
      if ('resultType' in result) done('success', { input_required: true })
      else done(result.isError === true ? 'failure' : 'success')
      return result
    } catch (err) {
      if (isSignInAgain(err)) signInAgain.set(request, err.message)
      if (!(err instanceof ToolError)) request.log.error({ err, tool: tool.name }, 'tool failed')
      done('failure', { reason: err instanceof ToolError ? 'tool_error' : 'exception' })
      return errorResult(err instanceof ToolError ? err.message : `The tool ${tool.name} failed unexpectedly (request id ${request.id}).`)
    } finally {
      clearTimeout(timer)
      handlerSignal.release()
    }
  }
}

/** Requests during which a tool found the caller's sign-in ended (SignInAgainError), and why. */
const signInAgain = new WeakMap<FastifyRequest, string>()

/** Why the caller must sign in again, when a tool of this request found out; the request is then answered 401. */
export function signInAgainFor (request: FastifyRequest): string | undefined {
  return signInAgain.get(request)
}
