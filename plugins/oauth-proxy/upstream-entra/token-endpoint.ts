import { request as httpRequest } from 'undici'
import { createClientAssertion, CLIENT_ASSERTION_TYPE } from './client-assertion.ts'
import { UpstreamError, upstreamErrorFrom } from './errors.ts'

// Entra's token endpoint: the answer it gives, and the two ways this service asks (undici with a
// secret or the certificate's client assertion; simple-oauth2 through @fastify/oauth2).

/** What Entra's token endpoint answers (the fields this service uses). */
export interface EntraTokenSet {
  access_token: string
  token_type?: string
  /** Seconds. */
  expires_in: number
  refresh_token?: string
  id_token?: string
  scope?: string
}

/** The part of simple-oauth2's AuthorizationCode client used here. */
export interface SimpleOAuth2Client {
  authorizeURL (params: Record<string, string>): string
  getToken (params: Record<string, string>, httpOptions?: Record<string, unknown>): Promise<{ token: Record<string, unknown> }>
  createToken (token: Record<string, unknown>): { refresh (params: Record<string, string>, httpOptions?: Record<string, unknown>): Promise<{ token: Record<string, unknown> }> }
}

export const TOKEN_TIMEOUT_MS = 10_000

export interface TokenEndpoint {
  tokenUrl: string
  clientId: string
  clientSecret?: string
  certificate?: Parameters<typeof createClientAssertion>[0]['certificate']
  userAgent: string
}

function parseTokenSet (body: unknown): EntraTokenSet {
  const token = body as Record<string, unknown> | null
  if (token === null || typeof token !== 'object' || typeof token.access_token !== 'string') {
    throw new UpstreamError('server_error', 'Microsoft Entra ID answered without an access token')
  }
  const expiresIn = Number(token.expires_in)
  return {
    access_token: token.access_token,
    token_type: typeof token.token_type === 'string' ? token.token_type : undefined,
    expires_in: Number.isFinite(expiresIn) && expiresIn > 0 ? expiresIn : 3600,
    refresh_token: typeof token.refresh_token === 'string' ? token.refresh_token : undefined,
    id_token: typeof token.id_token === 'string' ? token.id_token : undefined,
    scope: typeof token.scope === 'string' ? token.scope : undefined
  }
}

/** A token request with undici: client secret in the body, or the certificate's client assertion. */
export async function postTokenRequest (entra: TokenEndpoint, params: Record<string, string>): Promise<EntraTokenSet> {
  const form = new URLSearchParams({ ...params, client_id: entra.clientId })
  if (entra.certificate !== undefined) {
    form.set('client_assertion_type', CLIENT_ASSERTION_TYPE)
    form.set('client_assertion', createClientAssertion({ clientId: entra.clientId, tokenUrl: entra.tokenUrl, certificate: entra.certificate }))
  } else {
    form.set('client_secret', entra.clientSecret ?? '')
  }
  let status: number
  let body: unknown
  try {
    const res = await httpRequest(entra.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', 'user-agent': entra.userAgent },
      body: form.toString(),
      headersTimeout: TOKEN_TIMEOUT_MS,
      bodyTimeout: TOKEN_TIMEOUT_MS,
      signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS)
    })
    status = res.statusCode
    const text = await res.body.text()
    try { body = JSON.parse(text) } catch { body = undefined }
  } catch {
    throw upstreamErrorFrom(undefined, undefined)
  }
  if (status !== 200) throw upstreamErrorFrom(status, body)
  return parseTokenSet(body)
}

/** simple-oauth2 rejects with a Boom error carrying Entra's JSON body in `data.payload`. */
export async function viaSimpleOAuth2 (call: () => Promise<{ token: Record<string, unknown> }>): Promise<EntraTokenSet> {
  try {
    const result = await call()
    return parseTokenSet(result.token)
  } catch (err) {
    if (err instanceof UpstreamError) throw err
    const e = err as { data?: { payload?: unknown, isResponseError?: boolean }, output?: { statusCode?: number } }
    let payload = e.data?.payload
    if (Buffer.isBuffer(payload)) {
      try { payload = JSON.parse(payload.toString('utf8')) } catch { payload = undefined }
    }
    const status = e.data?.isResponseError === true ? e.output?.statusCode : undefined
    throw upstreamErrorFrom(status, payload)
  }
}
