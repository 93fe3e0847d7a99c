// Shared steps of the OAuth flow for the proxy's tests: register a client, build an authorize URL,
// drive consent + sign-in without a browser, redeem the code. Not a test file itself.
import { Browserless, pkcePair, type AuthorizeOptions } from './browserless.ts'

export const REDIRECT_URI = 'http://127.0.0.1:53682/callback'

export interface TestClient {
  client_id: string
  client_secret?: string
  redirect_uris: string[]
}

export async function registerClient (baseUrl: string, metadata: Record<string, unknown> = {}): Promise<TestClient> {
  const res = await fetch(`${baseUrl}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: 'Flow Test Client',
      ...metadata
    })
  })
  if (res.status !== 201) throw new Error(`registration failed: ${res.status} ${await res.text()}`)
  return await res.json() as TestClient
}

export interface AuthorizeRequest {
  url: string
  verifier: string
  challenge: string
  state: string
}

export async function authorizeRequest (baseUrl: string, client: TestClient, params: Record<string, string | undefined> = {}): Promise<AuthorizeRequest> {
  const { verifier, challenge } = await pkcePair()
  const state = `state-${Math.random().toString(36).slice(2)}`
  const query = new URLSearchParams()
  const all: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: client.client_id,
    redirect_uri: client.redirect_uris[0],
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    scope: 'tools.read tools.write',
    resource: `${baseUrl}/mcp`,
    ...params
  }
  for (const [k, v] of Object.entries(all)) if (v !== undefined) query.set(k, v)
  return { url: `${baseUrl}/authorize?${query}`, verifier, challenge, state }
}

/** Consent + sign-in; returns the parameters the client's redirect URI received. */
export async function signIn (browser: Browserless, url: string, options: AuthorizeOptions = {}): Promise<URLSearchParams> {
  const result = await browser.authorize(url, { stopAt: u => u.startsWith(REDIRECT_URI), ...options })
  return result.params
}

/** A form POST to `path` (/token, /revoke); the body is parsed as JSON when it is JSON. */
async function formPost (baseUrl: string, path: string, form: Record<string, string | undefined>, headers: Record<string, string>): Promise<{ status: number, body: any, headers: Headers }> {
  const body = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) if (v !== undefined) body.set(k, v)
  const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body })
  const text = await res.text()
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch { parsed = text }
  return { status: res.status, body: parsed, headers: res.headers }
}

export async function tokenRequest (baseUrl: string, form: Record<string, string | undefined>, headers: Record<string, string> = {}) {
  return await formPost(baseUrl, '/token', form, headers)
}

/** The whole flow for one client: returns the token answer and what was used to get it. */
export async function fullFlow (baseUrl: string, client: TestClient, browser = new Browserless(), params: Record<string, string | undefined> = {}, options: AuthorizeOptions = {}) {
  const request = await authorizeRequest(baseUrl, client, params)
  const callback = await signIn(browser, request.url, options)
  const code = callback.get('code')
  if (code === null) throw new Error(`no code: ${callback.toString()}`)
  const tokens = await tokenRequest(baseUrl, {
    grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0], code_verifier: request.verifier, client_id: client.client_id, client_secret: client.client_secret
  })
  return { request, callback, code, tokens, browser }
}

/** An MCP tools/list call: what mcpStatus (and its inject twin in oauth-inject.ts) send to /mcp. */
export const TOOLS_LIST = {
  headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
}

/** Status of an MCP tools/list call with this access token (200 accepted, 401 refused). */
export async function mcpStatus (baseUrl: string, accessToken: string): Promise<number> {
  const res = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, ...TOOLS_LIST.headers },
    body: TOOLS_LIST.body
  })
  await res.arrayBuffer()
  return res.status
}

export function claimsOf (jwt: string): Record<string, any> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'))
}

export async function revokeRequest (baseUrl: string, form: Record<string, string | undefined>, headers: Record<string, string> = {}) {
  return await formPost(baseUrl, '/revoke', form, headers)
}

/** Audit lines of one event from collected logs. */
export function auditsOf (logs: string[], event: string): Array<Record<string, any>> {
  return logs.map(l => JSON.parse(l)).filter(l => l.audit === true && l.event === event)
}
