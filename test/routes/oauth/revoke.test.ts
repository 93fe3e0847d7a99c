import t from 'tap'
import { buildListening } from '../../helper.ts'
import { auditsOf, fullFlow, mcpStatus, registerClient, revokeRequest, tokenRequest } from '../../support/oauth-flow.ts'

const ENV = { RATE_LIMIT_ENABLED: 'false', LOG_LEVEL: 'info' }

t.test('revoking an access token refuses that token only', async t => {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, ENV, { logs })
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client)
  const res = await revokeRequest(baseUrl, { token: tokens.body.access_token, token_type_hint: 'access_token', client_id: client.client_id })
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 401)
  const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(refreshed.status, 200, 'the grant lives on')
  t.equal(await mcpStatus(baseUrl, refreshed.body.access_token), 200)
  t.match(auditsOf(logs, 'token.revoked'), [{ token_type: 'access_token', client_id: client.client_id }])
})

t.test('revoking a refresh token revokes the grant: its access tokens and refresh tokens', async t => {
  const logs: string[] = []
  const { baseUrl } = await buildListening(t, ENV, { logs })
  const client = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client)
  const res = await revokeRequest(baseUrl, { token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(res.status, 200)
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 401)
  const refreshed = await tokenRequest(baseUrl, { grant_type: 'refresh_token', refresh_token: tokens.body.refresh_token, client_id: client.client_id })
  t.equal(refreshed.body.error, 'invalid_grant')
  t.match(auditsOf(logs, 'token.revoked'), [{ token_type: 'grant', reason: 'revoked_by_client' }])
})

t.test('unknown, foreign and malformed tokens answer 200 and change nothing; bad requests get RFC errors', async t => {
  const { baseUrl } = await buildListening(t, ENV)
  const client = await registerClient(baseUrl)
  const other = await registerClient(baseUrl)
  const { tokens } = await fullFlow(baseUrl, client)
  for (const token of ['A'.repeat(43), 'not a token', 'eyJhbGciOiJub25lIn0.eyJqdGkiOiJ4In0.sig', tokens.body.access_token.slice(0, -5) + 'AAAAA']) {
    t.equal((await revokeRequest(baseUrl, { token, client_id: client.client_id })).status, 200, token.slice(0, 20))
  }
  t.equal((await revokeRequest(baseUrl, { token: tokens.body.access_token, client_id: other.client_id })).status, 200, 'another client: 200')
  t.equal((await revokeRequest(baseUrl, { token: tokens.body.refresh_token, client_id: other.client_id })).status, 200)
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 200, 'another client cannot revoke this client\'s tokens')
  const missing = await revokeRequest(baseUrl, { client_id: client.client_id })
  t.equal(missing.status, 400)
  t.equal(missing.body.error, 'invalid_request')
  const unknownClient = await revokeRequest(baseUrl, { token: tokens.body.refresh_token, client_id: 'nobody' })
  t.equal(unknownClient.status, 401)
  t.equal(unknownClient.body.error, 'invalid_client')
  const big = await revokeRequest(baseUrl, { token: 'a'.repeat(50000), client_id: client.client_id })
  t.equal(big.status, 413)
  t.equal(await mcpStatus(baseUrl, tokens.body.access_token), 200)
})
