import { auth, discoverOAuthServerInfo, registerClient, resolveClientMetadata } from '@modelcontextprotocol/client'
import { CliError, loginCommand } from '../ui/errors.ts'
import { CliOAuthProvider } from './oauth-provider.ts'
import { startLoopbackListener, type Callback } from './loopback.ts'
import { authorizationServer, revokeToken } from './revoke.ts'
import { splitScopes, unionScopes } from './scopes.ts'
import { issuerKey, type ServerEntry } from './token-cache.ts'
import type { Context } from './session.ts'

/** Refresh this long before expiry: a minute, or a quarter of a short token's lifetime. */
export function refreshMargin (entry: ServerEntry): number {
  const lifetime = typeof entry.tokens?.expires_in === 'number' ? entry.tokens.expires_in * 1000 : 3_600_000
  return Math.min(60_000, Math.floor(lifetime / 4))
}

export function needsRefresh (entry: ServerEntry, now: number): boolean {
  return entry.expiresAt !== undefined && entry.expiresAt - now <= refreshMargin(entry)
}

/**
 * The server's authorization server, discovered afresh and saved for the SDK, and the issuer that
 * credentials are bound to (SEP-2352, as auth() binds them): the metadata's, else the server's URL.
 */
export async function discoverAuthorizationServer (ctx: Context, provider: CliOAuthProvider) {
  const info = await discoverOAuthServerInfo(ctx.server, { fetchFn: ctx.fetch })
  await provider.saveDiscoveryState({
    authorizationServerUrl: String(info.authorizationServerUrl),
    resourceMetadata: info.resourceMetadata,
    authorizationServerMetadata: info.authorizationServerMetadata
  })
  return { info, issuer: info.authorizationServerMetadata?.issuer ?? String(info.authorizationServerUrl) }
}

/**
 * Discovers the server's authorization server afresh (a sign-in must go where the server sends it
 * now, not where a cached discovery says it sent the CLI last time), then registers the CLI
 * (RFC 7591) there for every scope the server offers, not only the ones asked for now. The SDK's
 * auth() would register with the scope of the first sign-in, and a server that holds clients to
 * their registered scopes would then refuse every later step-up. A registration at that
 * authorization server that does not cover the scopes wanted, or that cannot use the code flow (a
 * device-only one from `login --device`), is replaced.
 */
async function ensureRegistration (ctx: Context, provider: CliOAuthProvider, scope: string | undefined): Promise<void> {
  const { info, issuer } = await discoverAuthorizationServer(ctx, provider)
  // A scope the server does not offer would only be refused later, with a less helpful message.
  const supported = info.resourceMetadata?.scopes_supported
  const unknown = supported === undefined ? [] : splitScopes(scope).filter(s => !supported.includes(s))
  if (unknown.length > 0) {
    throw new CliError('scope_refused', `The server does not offer the scope${unknown.length > 1 ? 's' : ''} ${unknown.join(' ')} (it offers: ${supported?.join(' ')}).`)
  }
  const client = await provider.clientInformation({ issuer })
  if (client !== undefined && codeFlow(client) && covers(client, scope)) return
  const offered = unionScopes(supported?.join(' '), registeredScope(client), scope)
  const registration = await registerClient(info.authorizationServerUrl, {
    metadata: info.authorizationServerMetadata,
    clientMetadata: resolveClientMetadata(provider),
    scope: offered !== '' ? offered : undefined,
    fetchFn: ctx.fetch
  })
  await provider.saveClientInformation({ ...registration, issuer }, { issuer })
}

const registeredScope = (client: object | undefined): string | undefined =>
  client !== undefined && 'scope' in client && typeof client.scope === 'string' ? client.scope : undefined

/** Whether a cached registration may use the code flow: `login --device` registers device-only (no grant, no redirect URI). */
function codeFlow (client: object): boolean {
  const grants = 'grant_types' in client && Array.isArray(client.grant_types) ? client.grant_types as unknown[] : undefined
  return grants === undefined || grants.includes('authorization_code')
}

function covers (client: object, scope: string | undefined): boolean {
  const registered = registeredScope(client)
  return registered === undefined || splitScopes(scope).every(s => splitScopes(registered).includes(s))
}

/** Waits for the browser's answer while the browser opens; a browser that cannot start leaves the printed address. */
async function browserStep (ctx: Context, url: string, callback: Promise<Callback>): Promise<Callback> {
  const opened = Promise.resolve().then(() => ctx.openUrl(url))
  return Promise.race([
    callback,
    opened.then(
      (ok) => {
        if (ok === false) ctx.notify('No browser could be started; open the address above yourself. Waiting for the sign-in…')
        return callback
      },
      (err: unknown) => { throw new CliError('signin_failed', `The browser step failed: ${(err as Error).message}`) }
    )
  ])
}

/**
 * The interactive sign-in (authorization code + PKCE S256 through the SDK's auth()): a loopback
 * listener on 127.0.0.1 with a port of the system's choosing, discovery and dynamic registration
 * when nothing is cached, then the browser, bounded by the sign-in timeout. The callback's `iss`
 * goes to auth() (RFC 9207), which refuses a response from another authorization server.
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
    const result = await auth(provider, { serverUrl: ctx.server, scope, fetchFn: ctx.fetch, forceReauthorization: true })
    if (result !== 'REDIRECT' || authorizationUrl === undefined) {
      throw new CliError('signin_failed', 'The server did not start a browser sign-in.')
    }
    const url = authorizationUrl.href
    ctx.notify(`Opening the browser to sign in to ${ctx.server}.\nIf it does not open, visit this address in a browser on this machine:\n\n  ${url}\n`)
    const metadata = authorizationServer(provider.currentEntry)
    const callback = listener.waitForCode({
      state: provider.sentState ?? '',
      issuer: metadata?.issuer,
      issRequired: metadata?.authorization_response_iss_parameter_supported === true
    })
    const { code, iss } = await browserStep(ctx, url, callback)
    await auth(provider, { serverUrl: ctx.server, authorizationCode: code, iss, scope, fetchFn: ctx.fetch })
    const entry = provider.currentEntry
    if (entry?.tokens === undefined) throw new CliError('signin_failed', 'The sign-in finished without tokens.')
    await revokeReplaced(ctx, previous, entry)
    return entry
  } finally {
    await listener.close()
  }
}

/** The grant a sign-in replaces is of no further use: revoke it (best effort), at its own authorization server only. */
export async function revokeReplaced (ctx: Context, previous: ServerEntry | undefined, entry: ServerEntry): Promise<void> {
  const old = previous?.tokens?.refresh_token
  if (old === undefined || old === entry.tokens?.refresh_token) return
  if (previous?.issuer === undefined || entry.issuer === undefined || issuerKey(previous.issuer) !== issuerKey(entry.issuer)) return
  await revokeToken(ctx, previous, old, 'refresh_token').catch(() => {})
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
