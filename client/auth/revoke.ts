import { discoverOAuthServerInfo, type AuthorizationServerMetadata } from '@modelcontextprotocol/client'
import { CliError } from '../ui/errors.ts'
import { issuerKey, type ServerEntry } from './token-cache.ts'
import type { Context } from './session.ts'

/** The fields of RFC 8414 metadata this client reads (OIDC-shaped metadata types lack some). */
export type ServerMetadata = AuthorizationServerMetadata & {
  revocation_endpoint?: string
  authorization_response_iss_parameter_supported?: boolean
}

export function authorizationServer (entry: ServerEntry | undefined): ServerMetadata | undefined {
  return entry?.discovery?.authorizationServerMetadata as ServerMetadata | undefined
}

/** The metadata of the authorization server that issued `entry`'s credentials, or undefined when discovery names another one. */
async function metadataFor (ctx: Context, entry: ServerEntry): Promise<ServerMetadata | undefined> {
  const sameIssuer = (m: ServerMetadata | undefined) => m !== undefined && entry.issuer !== undefined && issuerKey(m.issuer) === issuerKey(entry.issuer)
  const cached = authorizationServer(entry)
  if (sameIssuer(cached) && cached?.revocation_endpoint !== undefined) return cached
  const fresh = (await discoverOAuthServerInfo(ctx.server, { fetchFn: ctx.fetch })).authorizationServerMetadata as ServerMetadata | undefined
  return sameIssuer(fresh) ? fresh : undefined
}

/**
 * RFC 7009 revocation at the endpoint of the authorization server that issued the token: a token
 * is never sent to another one, even when the server's discovery now names another (SEP-2352).
 */
export async function revokeToken (ctx: Context, entry: ServerEntry, token: string, hint: 'refresh_token' | 'access_token'): Promise<void> {
  const metadata = await metadataFor(ctx, entry)
  if (metadata === undefined) {
    throw new CliError('server_error', `The server now names another authorization server than the one that issued these tokens (${entry.issuer ?? 'unknown'}); they were not sent to it.`)
  }
  const endpoint = metadata.revocation_endpoint
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
