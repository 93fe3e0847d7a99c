import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import type { FastifyInstance } from 'fastify'
import * as z from 'zod'
import { parseSigningKeys } from '../../config/keys.ts'
import { defineTool } from '../../mcp/registry.ts'
import { createTokenSigner, type AccessTokenClaims } from '../../plugins/jwt-verify/signing-keys.ts'

/** One RSA key per test process: the app is given it as TOKEN_SIGNING_KEY and tests mint with it. */
export const SIGNING_KEY_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
const SIGNING_KEYS = parseSigningKeys(SIGNING_KEY_PEM)

export const TENANT = '11111111-2222-3333-4444-555555555555'

/**
 * Mints an access token exactly as the app's `tokenSigner` would (same key, issuer, audience),
 * for a service listening at `baseUrl`. Self-issued tokens, so tests need no OAuth flow.
 */
export function mintToken (baseUrl: string, scope: string, claims: Partial<AccessTokenClaims> = {}): string {
  const signer = createTokenSigner(SIGNING_KEYS, { issuer: baseUrl, audience: `${baseUrl}/mcp`, ttlSeconds: 900, source: 'configured' })
  return signer.issueAccessToken({
    sub: 'user-1',
    oid: 'aaaaaaaa-0000-0000-0000-000000000001',
    tid: TENANT,
    name: 'Ada Lovelace',
    preferred_username: 'ada@contoso.example',
    client_id: 'test-client',
    sid: `grant-${randomUUID()}`,
    scope,
    ...claims
  }).accessToken
}

/** The revision an SDK client speaks: 2025-era `initialize` (the SDK's default) or pinned 2026-07-28. */
export type ClientEra = 'legacy' | '2026-07-28'

/**
 * An SDK v2 client connected to `{baseUrl}/mcp` with a bearer token. Closed when the test ends.
 * `era` 2026-07-28 pins the client to that revision (`server/discover`, no `initialize`).
 */
export async function connectClient (t: { teardown: (fn: () => unknown) => void }, baseUrl: string, token: string, headers: Record<string, string> = {}, era: ClientEra = 'legacy'): Promise<Client> {
  const client = new Client({ name: 'mcp-test', version: '1.0.0' }, {
    versionNegotiation: { mode: era === 'legacy' ? 'legacy' : { pin: era } }
  })
  const transport = new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}`, ...headers } },
    // Tests look at the 403 themselves; the SDK would otherwise try to re-authorize.
    onInsufficientScope: 'throw'
  })
  await client.connect(transport)
  t.teardown(() => client.close())
  return client
}

export const MCP_HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-06-18'
}

/** A raw POST to /mcp (for what the SDK client would never send). */
export async function post (baseUrl: string, body: string | object, headers: Record<string, string> = {}) {
  const res = await fetch(`${baseUrl}/mcp`, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body)
  })
  const text = await res.text()
  let json: any
  try { json = JSON.parse(text) } catch {}
  return { status: res.status, headers: res.headers, text, json }
}

export const callTool = (id: number | string, name: string, args: object = {}) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } })

/** `POST /mcp` through `app.inject` with a bearer token (MCP_HEADERS unless `headers` is given). */
export async function injectMcp (app: FastifyInstance, token: string, payload: object, headers: Record<string, string> = MCP_HEADERS) {
  return await app.inject({ method: 'POST', url: '/mcp', headers: { ...headers, authorization: `Bearer ${token}` }, payload })
}

/** The claims of a JWT, decoded without any check. */
export const payloadOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'))

/** A test tool with a per-tool limit of two calls a minute. */
export const limitedTool = defineTool({
  name: 'limited',
  title: 'Limited',
  description: 'Allows two calls a minute (test tool).',
  inputSchema: z.object({}),
  scopes: ['tools.read'],
  rateLimit: { max: 2, windowSeconds: 60 },
  handler: () => ({ ok: true })
})

/** The audit lines of one event from collected log lines. */
export function auditLines (logs: string[], event: string): Array<Record<string, any>> {
  return logs.map(l => JSON.parse(l)).filter(l => l.audit === true && l.event === event)
}
