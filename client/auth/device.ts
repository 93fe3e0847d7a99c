// `login --device`: the device authorization grant (RFC 8628) for a terminal with no browser
// (SSH, a container, a CI runner). The CLI asks the server for a code, prints where to enter it,
// and polls /token until the person has signed in on any other device; then it ends as `login`.
import { registerClient, type OAuthClientInformationMixed, type OAuthTokens } from '@modelcontextprotocol/client'
import { CliError } from '../ui/errors.ts'
import { CliOAuthProvider } from './oauth-provider.ts'
import type { Context } from './session.ts'
import { discoverAuthorizationServer, revokeReplaced } from './sign-in.ts'
import { splitScopes, unionScopes } from './scopes.ts'
import type { ServerEntry } from './token-cache.ts'

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

/** RFC 8628 §3.2. */
interface DeviceAuthorization {
  device_code: string
  user_code: string
  verification_uri: string
  verification_uri_complete?: string
  expires_in: number
  interval?: number
}

export interface DeviceSignInOptions {
  scope?: string
  /** Waits between polls (tests may pass a faster one); setTimeout by default. */
  sleep?: (ms: number) => Promise<void>
}

const wait = async (ms: number) => await new Promise<void>(resolve => setTimeout(resolve, ms))

/** Client authentication as the registration gave it: a secret (Basic) or the client id in the body. */
function withClient (client: OAuthClientInformationMixed, form: Record<string, string>): { headers: Record<string, string>, body: string } {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' }
  const body = new URLSearchParams(form)
  if (client.client_secret !== undefined) {
    headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(client.client_id)}:${encodeURIComponent(client.client_secret)}`).toString('base64')}`
  } else {
    body.set('client_id', client.client_id)
  }
  return { headers, body: body.toString() }
}

async function readJson (response: Response): Promise<Record<string, any>> {
  try {
    return await response.json() as Record<string, any>
  } catch {
    return {}
  }
}

/**
 * A device-only registration (RFC 8628 with RFC 7591): no redirect URI and no response type, since
 * a headless machine has no browser to come back to; the server then refuses this client at
 * /authorize, so the registration cannot be used for a code flow. `login` registers anew.
 */
function deviceOnlyMetadata (provider: CliOAuthProvider) {
  return { ...provider.clientMetadata, redirect_uris: [], grant_types: [DEVICE_GRANT, 'refresh_token'], response_types: [] }
}

/** The server's endpoints, and a registration of this CLI that includes the device grant (device-only when new). */
async function prepare (ctx: Context, provider: CliOAuthProvider, scope: string | undefined) {
  const { info, issuer } = await discoverAuthorizationServer(ctx, provider)
  const metadata = info.authorizationServerMetadata as (Record<string, any> & { token_endpoint: string }) | undefined
  const endpoint = metadata?.device_authorization_endpoint as string | undefined
  if (metadata === undefined || endpoint === undefined) {
    throw new CliError('signin_failed', `${ctx.server} does not offer sign-in with a code (no device_authorization_endpoint); run login without --device.`)
  }
  // Read from the cache itself: the provider refuses, outside a browser sign-in, an issuer with no registration.
  const cached = (await ctx.cache.get(ctx.server, issuer))?.client as (OAuthClientInformationMixed & { grant_types?: string[], scope?: string }) | undefined
  const offered = unionScopes(info.resourceMetadata?.scopes_supported?.join(' '), cached?.scope, scope)
  const fits = cached?.grant_types?.includes(DEVICE_GRANT) === true && splitScopes(scope).every(s => splitScopes(cached.scope ?? offered).includes(s))
  let client = cached as OAuthClientInformationMixed
  if (!fits) {
    client = await registerClient(info.authorizationServerUrl, {
      metadata: info.authorizationServerMetadata,
      clientMetadata: deviceOnlyMetadata(provider),
      scope: offered !== '' ? offered : undefined,
      fetchFn: ctx.fetch
    })
    await provider.saveClientInformation({ ...client, issuer }, { issuer })
  }
  return { endpoint, tokenEndpoint: metadata.token_endpoint, resource: info.resourceMetadata?.resource, client, issuer }
}

/** POST device_authorization: the codes, or a readable refusal. */
async function requestCodes (ctx: Context, endpoint: string, client: OAuthClientInformationMixed, scope: string | undefined, resource: string | undefined): Promise<DeviceAuthorization> {
  const form: Record<string, string> = {}
  if (scope !== undefined && scope !== '') form.scope = scope
  if (resource !== undefined) form.resource = resource
  const response = await ctx.fetch(endpoint, { method: 'POST', ...withClient(client, form) })
  const answer = await readJson(response)
  if (!response.ok || typeof answer.device_code !== 'string' || typeof answer.user_code !== 'string' || typeof answer.verification_uri !== 'string') {
    throw new CliError('signin_failed', `The server refused to start a sign-in with a code (HTTP ${response.status}${answer.error !== undefined ? `, ${String(answer.error)}: ${String(answer.error_description ?? '')}` : ''}).`)
  }
  return answer as unknown as DeviceAuthorization
}

/**
 * Polls /token (RFC 8628 §3.4) every `interval` seconds, 5 more after each slow_down, until the
 * person approved (the tokens), denied, or the code expired.
 */
async function pollForTokens (ctx: Context, tokenEndpoint: string, client: OAuthClientInformationMixed, codes: DeviceAuthorization, sleep: (ms: number) => Promise<void>): Promise<OAuthTokens> {
  let interval = Math.max(1, codes.interval ?? 5)
  const deadline = ctx.now() + codes.expires_in * 1000
  while (ctx.now() < deadline) {
    await sleep(interval * 1000)
    const response = await ctx.fetch(tokenEndpoint, { method: 'POST', ...withClient(client, { grant_type: DEVICE_GRANT, device_code: codes.device_code }) })
    const answer = await readJson(response)
    if (response.ok && typeof answer.access_token === 'string') return answer as OAuthTokens
    switch (answer.error) {
      case 'authorization_pending': continue
      case 'slow_down': interval += 5; continue
      case 'access_denied': throw new CliError('signin_cancelled', 'The sign-in was denied in the browser; nothing was saved.')
      case 'expired_token': throw new CliError('signin_timeout', 'The code expired before the sign-in finished. Run login --device again.')
      default: throw new CliError('signin_failed', `The server refused the sign-in (HTTP ${response.status}${answer.error !== undefined ? `, ${String(answer.error)}: ${String(answer.error_description ?? '')}` : ''}).`)
    }
  }
  throw new CliError('signin_timeout', 'The code expired before the sign-in finished. Run login --device again.')
}

/** The sign-in with a code: the person opens the printed address on any device; this process polls. */
export async function deviceSignIn (ctx: Context, { scope, sleep = wait }: DeviceSignInOptions = {}): Promise<ServerEntry> {
  const previous = await ctx.cache.get(ctx.server)
  const provider = new CliOAuthProvider(ctx.cache, ctx.server, previous, { now: ctx.now, program: ctx.program })
  const { endpoint, tokenEndpoint, resource, client, issuer } = await prepare(ctx, provider, scope)
  const codes = await requestCodes(ctx, endpoint, client, scope, resource)
  const minutes = Math.max(1, Math.round(codes.expires_in / 60))
  ctx.notify([
    `To sign in to ${ctx.server}, open this address in a browser on any device:`,
    '',
    `  ${codes.verification_uri}`,
    '',
    `and enter the code:  ${codes.user_code}`,
    ...(codes.verification_uri_complete !== undefined ? ['', `(or open ${codes.verification_uri_complete} and confirm the code there)`] : []),
    '',
    `The code works for ${minutes} minute${minutes === 1 ? '' : 's'}. Waiting for the sign-in…`
  ].join('\n'))
  const tokens = await pollForTokens(ctx, tokenEndpoint, client, codes, sleep)
  await provider.saveTokens({ ...tokens, issuer }, { issuer })
  const entry = provider.currentEntry
  if (entry?.tokens === undefined) throw new CliError('signin_failed', 'The sign-in finished without tokens.')
  // The grant this sign-in replaces is of no further use: revoke it (best effort) at its own authorization server, as login does.
  await revokeReplaced(ctx, previous, entry)
  return entry
}
