import { Client, InsufficientScopeError, StreamableHTTPClientTransport, type FetchLike, type Tool, type VersionNegotiationMode } from '@modelcontextprotocol/client'
import { CliError, causes } from '../ui/errors.ts'
import { CliOAuthProvider } from './oauth-provider.ts'
import type { OpenUrl } from './browser.ts'
import type { TokenCache } from './token-cache.ts'
import { splitScopes, unionScopes } from './scopes.ts'
import { ensureFreshTokens, signIn } from './sign-in.ts'
import type { ServerEntry } from './token-cache.ts'

export const CLIENT_VERSION = '0.1.0'

/**
 * Which MCP revision the CLI speaks: `auto` asks the server (`server/discover`, 2026-07-28) and
 * falls back to the 2025 `initialize` handshake when it does not answer as a 2026 server; a
 * version pins it (2025-11-25: `initialize` only; 2026-07-28: the server must offer it).
 */
export const PROTOCOLS = ['auto', '2025-11-25', '2026-07-28'] as const
export type ProtocolChoice = typeof PROTOCOLS[number]

export function negotiationMode (protocol: ProtocolChoice): VersionNegotiationMode {
  if (protocol === 'auto') return 'auto'
  if (protocol === '2025-11-25') return 'legacy'
  return { pin: protocol }
}

/** Everything a command needs to talk to one server; tests replace `openUrl`, `now`, `fetch`. */
export interface Context {
  server: string
  cache: TokenCache
  openUrl: OpenUrl
  now: () => number
  signInTimeoutMs: number
  fetch: FetchLike
  /** A line for the person at the terminal (stderr): progress and hints, never data. */
  notify: (line: string) => void
  /** How the person runs this CLI (`npm run -s client --`, `entra-mcp-client`), named in hints. */
  program: string
  protocol: ProtocolChoice
}

export interface Connection {
  client: Client
  provider: CliOAuthProvider
  close: () => Promise<void>
}

/**
 * An MCP client over Streamable HTTP whose transport takes its tokens from the provider. A 403
 * insufficient_scope is thrown (InsufficientScopeError) instead of handled inside the SDK, so the
 * command can tell the person why a browser opens again (see withSession).
 */
export async function connect (ctx: Context, entry: ServerEntry): Promise<Connection> {
  const provider = new CliOAuthProvider(ctx.cache, ctx.server, entry, { now: ctx.now, program: ctx.program })
  const transport = new StreamableHTTPClientTransport(new URL(ctx.server), { authProvider: provider, fetch: ctx.fetch, onInsufficientScope: 'throw' })
  const client = new Client({ name: 'entra-mcp-client', version: CLIENT_VERSION }, { versionNegotiation: { mode: negotiationMode(ctx.protocol) } })
  await client.connect(transport)
  return { client, provider, close: () => client.close() }
}

/** The server's 403 insufficient_scope challenge, wherever it sits in an error's cause chain. */
export function findStepUp (err: unknown): InsufficientScopeError | undefined {
  for (const e of causes(err)) if (e instanceof InsufficientScopeError) return e
  return undefined
}

/**
 * Runs `fn` with a connected client. When the server answers 403 insufficient_scope, signs in
 * again for the granted plus the demanded scopes and runs `fn` once more; a second refusal is
 * reported as "scope refused".
 */
export async function withSession<T> (ctx: Context, fn: (conn: Connection) => Promise<T>, { stepUp = true } = {}): Promise<T> {
  let steppedUp = false
  for (;;) {
    const entry = await ensureFreshTokens(ctx)
    let conn: Connection | undefined
    let demanded: InsufficientScopeError | undefined
    try {
      conn = await connect(ctx, entry)
      return await fn(conn)
    } catch (err) {
      demanded = findStepUp(err)
      if (demanded === undefined) throw err
    } finally {
      await conn?.close().catch(() => {})
    }
    const demandedScope = demanded.requiredScope ?? ''
    const granted = conn?.provider.currentEntry?.scope ?? entry.scope
    const missing = splitScopes(demandedScope).filter(s => !splitScopes(granted).includes(s))
    if (!stepUp || steppedUp || missing.length === 0) {
      throw new CliError('scope_refused', `Scope refused: this needs ${missing.length > 0 ? missing.join(' ') : demandedScope || 'a scope the server did not name'}, which the sign-in did not grant.`)
    }
    steppedUp = true
    ctx.notify(`This needs more permissions (${missing.join(' ')}); signing in again to ask for them.`)
    const after = await signIn(ctx, { scope: unionScopes(granted, demandedScope) })
    const stillMissing = missing.filter(s => !splitScopes(after.scope).includes(s))
    if (after.scope !== undefined && stillMissing.length > 0) {
      throw new CliError('scope_refused', `Scope refused: the server did not grant ${stillMissing.join(' ')}.`)
    }
  }
}

/** Lists every tool (following pagination). */
export async function listAllTools (client: Client): Promise<Tool[]> {
  const tools: Tool[] = []
  let cursor: string | undefined
  do {
    const page = await client.listTools(cursor !== undefined ? { cursor } : undefined)
    tools.push(...page.tools)
    cursor = page.nextCursor
  } while (cursor !== undefined && tools.length < 10_000)
  return tools
}
