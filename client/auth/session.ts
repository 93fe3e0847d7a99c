import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { auth, discoverOAuthServerInfo, extractWWWAuthenticateParams, registerClient } from '@modelcontextprotocol/sdk/client/auth.js'
import type { FetchLike } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { AuthorizationServerMetadata } from '@modelcontextprotocol/sdk/shared/auth.js'
import type { Tool } from '@modelcontextprotocol/sdk/types.js'
import { CliError, StepUpRequired, causes, loginCommand } from '../ui/errors.ts'
import { CliOAuthProvider } from './oauth-provider.ts'
import { startLoopbackListener } from './loopback.ts'
import type { OpenUrl } from './browser.ts'
import type { ServerEntry, TokenCache } from './token-cache.ts'

export const CLIENT_VERSION = '0.1.0'

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
}

export interface Connection {
  client: Client
  provider: CliOAuthProvider
  close: () => Promise<void>
}

export const splitScopes = (scope: string | undefined): string[] => (scope ?? '').split(' ').filter(s => s !== '')
export const unionScopes = (...scopes: Array<string | undefined>): string => [...new Set(scopes.flatMap(splitScopes))].join(' ')

/** Refresh this long before expiry: a minute, or a quarter of a short token's lifetime. */
export function refreshMargin (entry: ServerEntry): number {
  const lifetime = typeof entry.tokens?.expires_in === 'number' ? entry.tokens.expires_in * 1000 : 3_600_000
  return Math.min(60_000, Math.floor(lifetime / 4))
}

export function needsRefresh (entry: ServerEntry, now: number): boolean {
  return entry.expiresAt !== undefined && entry.expiresAt - now <= refreshMargin(entry)
}

/** The fields of RFC 8414 metadata this client reads (OIDC-shaped metadata types lack some). */
type ServerMetadata = AuthorizationServerMetadata & {
  revocation_endpoint?: string
  authorization_response_iss_parameter_supported?: boolean
}

function authorizationServer (entry: ServerEntry | undefined): ServerMetadata | undefined {
  return entry?.discovery?.authorizationServerMetadata as ServerMetadata | undefined
}

/**
 * Registers the CLI (RFC 7591) for every scope the server offers, not only the ones asked for now.
 * The SDK's auth() would register with the scope of the first sign-in, and a server that holds
 * clients to their registered scopes would then refuse every later step-up. A cached registration
 * that does not cover the scopes wanted now is replaced.
 */
async function ensureRegistration (ctx: Context, provider: CliOAuthProvider, scope: string | undefined): Promise<void> {
  const client = provider.currentEntry?.client
  const registered = client !== undefined && 'scope' in client && typeof client.scope === 'string' ? client.scope : undefined
  const covered = registered === undefined || splitScopes(scope).every(s => splitScopes(registered).includes(s))
  const cached = provider.currentEntry?.discovery
  if (client !== undefined && covered && cached !== undefined) return
  const info = await discoverOAuthServerInfo(ctx.server, { fetchFn: ctx.fetch })
  await provider.saveDiscoveryState({
    authorizationServerUrl: String(info.authorizationServerUrl),
    resourceMetadata: info.resourceMetadata,
    authorizationServerMetadata: info.authorizationServerMetadata
  })
  // A scope the server does not offer would only be refused later, with a less helpful message.
  const supported = info.resourceMetadata?.scopes_supported
  const unknown = supported === undefined ? [] : splitScopes(scope).filter(s => !supported.includes(s))
  if (unknown.length > 0) {
    throw new CliError('scope_refused', `The server does not offer the scope${unknown.length > 1 ? 's' : ''} ${unknown.join(' ')} (it offers: ${supported?.join(' ')}).`)
  }
  if (client !== undefined && covered) return
  const offered = unionScopes(info.resourceMetadata?.scopes_supported?.join(' '), registered, scope)
  const registration = await registerClient(info.authorizationServerUrl, {
    metadata: info.authorizationServerMetadata,
    clientMetadata: provider.clientMetadata,
    scope: offered !== '' ? offered : undefined,
    fetchFn: ctx.fetch
  })
  // Stamped with the authorization server, as auth() does, so it is never shown to another one.
  await provider.saveClientInformation({ ...registration, issuer: String(info.authorizationServerUrl) })
}

/**
 * The interactive sign-in (authorization code + PKCE S256 through the SDK's auth()): a loopback
 * listener on 127.0.0.1 with a port of the system's choosing, discovery and dynamic registration
 * when nothing is cached, then the browser, bounded by the sign-in timeout.
 */
export async function signIn (ctx: Context, { scope }: { scope?: string } = {}): Promise<ServerEntry> {
  const listener = await startLoopbackListener({ timeoutMs: ctx.signInTimeoutMs })
  try {
    const previous = await ctx.cache.get(ctx.server)
    let authorizationUrl: URL | undefined
    const provider = new CliOAuthProvider(ctx.cache, ctx.server, previous, {
      now: ctx.now,
      program: ctx.program,
      signIn: { redirectUri: listener.redirectUri, open: (url) => { authorizationUrl = url } }
    })
    await ensureRegistration(ctx, provider, scope)
    const result = await auth(provider, { serverUrl: ctx.server, scope, fetchFn: ctx.fetch })
    if (result !== 'REDIRECT' || authorizationUrl === undefined) {
      throw new CliError('signin_failed', 'The server did not start a browser sign-in.')
    }
    const url = authorizationUrl.href
    ctx.notify(`Opening the browser to sign in to ${ctx.server}.\nIf it does not open, visit this address in a browser on this machine:\n\n  ${url}\n`)
    const metadata = authorizationServer(provider.currentEntry)
    const codePromise = listener.waitForCode({
      state: provider.sentState ?? '',
      issuer: metadata?.issuer,
      issRequired: metadata?.authorization_response_iss_parameter_supported === true
    })
    const opened = Promise.resolve().then(() => ctx.openUrl(url))
    const code = await Promise.race([
      codePromise,
      opened.then(
        (ok) => {
          if (ok === false) ctx.notify('No browser could be started; open the address above yourself. Waiting for the sign-in…')
          return codePromise
        },
        (err: unknown) => { throw new CliError('signin_failed', `The browser step failed: ${(err as Error).message}`) }
      )
    ])
    await auth(provider, { serverUrl: ctx.server, authorizationCode: code, scope, fetchFn: ctx.fetch })
    const entry = provider.currentEntry
    if (entry?.tokens === undefined) throw new CliError('signin_failed', 'The sign-in finished without tokens.')
    // The grant this sign-in replaces is of no further use: revoke it (best effort).
    const old = previous?.tokens?.refresh_token
    if (old !== undefined && old !== entry.tokens.refresh_token) {
      await revokeToken(ctx, entry, old, 'refresh_token').catch(() => {})
    }
    return entry
  } finally {
    await listener.close()
  }
}

/** The cached sign-in, refreshed first (without a browser) when the access token is about to expire. */
export async function ensureFreshTokens (ctx: Context): Promise<ServerEntry> {
  const entry = await ctx.cache.get(ctx.server)
  if (entry?.tokens === undefined) {
    throw new CliError('not_logged_in', `Not logged in to ${ctx.server}. Run ${loginCommand(ctx.program, ctx.server)} first.`)
  }
  if (!needsRefresh(entry, ctx.now()) || entry.tokens.refresh_token === undefined) return entry
  // One refresh at a time across processes: refresh tokens rotate, and a second use of the old
  // one would look like theft to the server (reuse detection revokes the grant).
  return ctx.cache.withRefreshLock(async () => {
    const current = await ctx.cache.get(ctx.server)
    if (current?.tokens === undefined) throw new CliError('not_logged_in', `Not logged in to ${ctx.server}. Run ${loginCommand(ctx.program, ctx.server)} first.`)
    if (!needsRefresh(current, ctx.now())) return current
    const provider = new CliOAuthProvider(ctx.cache, ctx.server, current, { now: ctx.now, program: ctx.program })
    await auth(provider, { serverUrl: ctx.server, fetchFn: ctx.fetch })
    return provider.currentEntry ?? current
  })
}

/** An MCP client over Streamable HTTP whose transport takes its tokens from the provider. */
export async function connect (ctx: Context, entry: ServerEntry): Promise<Connection> {
  const provider = new CliOAuthProvider(ctx.cache, ctx.server, entry, { now: ctx.now, program: ctx.program })
  // Watch for 403 insufficient_scope: the SDK would only refresh (same scopes) and give up;
  // noting the challenge makes the provider ask for a step-up sign-in instead (see signIn).
  const watchingFetch: FetchLike = async (url, init) => {
    const response = await ctx.fetch(url, init)
    if (response.status === 403) {
      const { error, scope } = extractWWWAuthenticateParams(response)
      if (error === 'insufficient_scope') provider.stepUpScope = scope ?? ''
    }
    return response
  }
  const transport = new StreamableHTTPClientTransport(new URL(ctx.server), { authProvider: provider, fetch: watchingFetch })
  const client = new Client({ name: 'entra-mcp-client', version: CLIENT_VERSION })
  await client.connect(transport)
  return { client, provider, close: () => client.close() }
}

export function findStepUp (err: unknown): StepUpRequired | undefined {
  for (const e of causes(err)) if (e instanceof StepUpRequired) return e
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
    const conn = await connect(ctx, entry)
    let demanded: StepUpRequired | undefined
    try {
      return await fn(conn)
    } catch (err) {
      demanded = findStepUp(err)
      if (demanded === undefined) throw err
    } finally {
      await conn.close().catch(() => {})
    }
    const granted = conn.provider.currentEntry?.scope ?? entry.scope
    const missing = splitScopes(demanded.scope).filter(s => !splitScopes(granted).includes(s))
    if (!stepUp || steppedUp || missing.length === 0) {
      throw new CliError('scope_refused', `Scope refused: this needs ${missing.length > 0 ? missing.join(' ') : demanded.scope || 'a scope the server did not name'}, which the sign-in did not grant.`)
    }
    steppedUp = true
    ctx.notify(`This needs more permissions (${missing.join(' ')}); signing in again to ask for them.`)
    const after = await signIn(ctx, { scope: unionScopes(granted, demanded.scope) })
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

/** RFC 7009 revocation at the endpoint the server advertises. */
export async function revokeToken (ctx: Context, entry: ServerEntry, token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
  let metadata = authorizationServer(entry)
  if (metadata?.revocation_endpoint === undefined) {
    metadata = (await discoverOAuthServerInfo(ctx.server, { fetchFn: ctx.fetch })).authorizationServerMetadata as ServerMetadata | undefined
  }
  const endpoint = metadata?.revocation_endpoint
  if (endpoint === undefined) throw new CliError('server_error', 'The server does not advertise a revocation endpoint.')
  const client = entry.client
  const body = new URLSearchParams({ token, token_type_hint: hint })
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
  if (client?.client_secret !== undefined) {
    const basic = Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')
    headers.authorization = `Basic ${basic}`
  } else if (client !== undefined) {
    body.set('client_id', client.client_id)
  }
  const response = await ctx.fetch(endpoint, { method: 'POST', headers, body: body.toString() })
  if (!response.ok) {
    const detail = await response.json().then((j: { error?: string, error_description?: string }) => [j.error, j.error_description].filter(Boolean).join(': '), () => '')
    throw new CliError('server_error', `The server refused the revocation (HTTP ${response.status}${detail !== '' ? `, ${detail}` : ''}).`)
  }
  await response.body?.cancel().catch(() => {})
}
