import t from 'tap'
import { checkAuthorizeRequest, clientRedirect, defaultScopes, type AuthorizeClient } from '../../../../plugins/oauth-proxy/authorize/request.ts'
import { parseScope, requestedScopes } from '../../../../plugins/oauth-proxy/authorize/requested-scopes.ts'
import { createCodeVerifier, s256Challenge } from '../../../../plugins/oauth-proxy/authorize/pkce.ts'

const settings = { scopes: ['tools.read', 'tools.write', 'graph.read'], resource: 'https://mcp.example.com/mcp', admin: { resource: 'https://mcp.example.com/admin/api' } }
const exact = (registered: string[], presented: string) => registered.includes(presented)
const client: AuthorizeClient = { client_id: 'c1', redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] }
const challenge = s256Challenge(createCodeVerifier())
const good = { client_id: 'c1', redirect_uri: 'https://app.example.com/cb', response_type: 'code', code_challenge: challenge, code_challenge_method: 'S256', state: 'xyz' }

const check = (query: Record<string, unknown>, c: AuthorizeClient | null = client) => checkAuthorizeRequest(query, c, settings, exact)

t.test('a good request passes with the requested scopes', async t => {
  const r = check({ ...good, scope: 'tools.read tools.read', resource: settings.resource })
  t.same(r, { outcome: 'ok', params: { clientId: 'c1', redirectUri: good.redirect_uri, state: 'xyz', codeChallenge: challenge, scopes: ['tools.read'], resource: settings.resource } })
})

t.test('the admin API is a resource of its own: the transaction carries it', async t => {
  t.match(check({ ...good, resource: settings.admin.resource }), { outcome: 'ok', params: { resource: settings.admin.resource } })
  t.match(check(good), { outcome: 'ok', params: { resource: settings.resource } }, 'no resource: MCP')
})

t.test('client and redirect URI problems are pages, never redirects', async t => {
  t.match(check({ ...good, client_id: undefined }), { outcome: 'page', error: 'invalid_request' })
  t.match(check({ ...good, client_id: ['a', 'b'] }), { outcome: 'page', error: 'invalid_request' })
  t.match(check(good, null), { outcome: 'page', error: 'invalid_client' })
  t.match(check({ ...good, redirect_uri: 'https://evil.example.com/cb' }), { outcome: 'page', error: 'invalid_request' })
  t.match(check({ ...good, redirect_uri: 'https://app.example.com/cb/../x' }), { outcome: 'page' })
  t.match(check({ ...good, redirect_uri: [good.redirect_uri, good.redirect_uri] }), { outcome: 'page' })
  t.match(check({ ...good, redirect_uri: undefined }, { ...client, redirect_uris: ['https://a/cb', 'https://b/cb'] }), { outcome: 'page' })
})

t.test('a missing redirect_uri uses the only registered one', async t => {
  t.match(check({ ...good, redirect_uri: undefined }), { outcome: 'ok', params: { redirectUri: 'https://app.example.com/cb' } })
})

t.test('errors after the redirect URI is verified go back to the client', async t => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ response_type: 'token' }, 'unsupported_response_type'],
    [{ response_type: undefined }, 'invalid_request'],
    [{ code_challenge: undefined }, 'invalid_request'],
    [{ code_challenge_method: 'plain' }, 'invalid_request'],
    [{ code_challenge_method: undefined }, 'invalid_request'],
    [{ code_challenge: 'too-short' }, 'invalid_request'],
    [{ resource: 'https://other.example.com/mcp' }, 'invalid_target'],
    [{ resource: [settings.resource, 'https://x'] }, 'invalid_target'],
    [{ scope: 'tools.read admin' }, 'invalid_scope'],
    [{ state: 'x'.repeat(3000) }, 'invalid_request'],
    [{ scope: ['tools.read', 'tools.write'] }, 'invalid_request']
  ]
  for (const [change, error] of cases) {
    const r = check({ ...good, ...change })
    t.match(r, { outcome: 'redirect', redirectUri: good.redirect_uri, error }, JSON.stringify(change).slice(0, 80))
  }
  t.match(check({ ...good, scope: 'admin' }), { state: 'xyz' }, 'state is echoed')
})

t.test('clients registered without the code flow are refused', async t => {
  t.match(check(good, { ...client, grant_types: ['client_credentials'] }), { outcome: 'page', status: 400, error: 'unauthorized_client' })
  t.match(check(good, { ...client, response_types: ['token'] }), { outcome: 'redirect', error: 'unauthorized_client' })
})

t.test('a device-only client cannot start a code flow, and its error never redirects', async t => {
  const deviceOnly = { client_id: client.client_id, redirect_uris: [], grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'], response_types: [] }
  t.match(check(good, deviceOnly), { outcome: 'page', status: 400, error: 'unauthorized_client' }, 'with an attacker-chosen redirect_uri')
  const { redirect_uri: _, ...noRedirect } = good
  t.match(check(noRedirect, deviceOnly), { outcome: 'page', status: 400, error: 'unauthorized_client' }, 'without a redirect_uri')
  t.match(check(good, { ...deviceOnly, redirect_uris: [good.redirect_uri] }), { outcome: 'page', error: 'unauthorized_client' }, 'even if it had somehow kept a redirect URI')
})

t.test('default scopes: the client registered scope, else every offered scope', async t => {
  t.same(defaultScopes(client, settings.scopes), settings.scopes)
  t.same(defaultScopes({ ...client, scope: 'tools.read unknown' }, settings.scopes), ['tools.read'])
  t.match(check(good, { ...client, scope: 'tools.read' }), { outcome: 'ok', params: { scopes: ['tools.read'] } })
  t.match(check({ ...good, scope: 'tools.read tools.write' }, { ...client, scope: 'tools.read' }), { outcome: 'ok', params: { scopes: ['tools.read', 'tools.write'] } }, 'the registered scope is a default, not a ceiling (step-up)')
  t.match(check({ ...good, scope: 'tools.read admin' }, { ...client, scope: 'tools.read' }), { outcome: 'redirect', error: 'invalid_scope' }, 'scopes not offered are still refused')
  t.match(check({ ...good, scope: 'tools.write offline_access' }, client), { outcome: 'ok', params: { scopes: ['tools.write'] } }, 'offline_access (Claude Code) is ignored')
  t.match(check({ ...good, scope: 'openid email profile' }, { ...client, scope: 'tools.read' }), { outcome: 'ok', params: { scopes: ['tools.read'] } }, 'only sign-in scopes (mcp-remote): the default scopes')
})

t.test('helpers', async t => {
  t.same(parseScope(' a  b a '), ['a', 'b'])
  t.same(parseScope(undefined), [])
  t.same(requestedScopes('tools.read openid profile email offline_access', ['tools.read']), ['tools.read'], 'sign-in scopes not offered are dropped')
  t.same(requestedScopes('profile tools.read', ['tools.read', 'profile']), ['profile', 'tools.read'], 'unless MCP_SCOPES offers them')
  t.same(requestedScopes('admin tools.read', ['tools.read']), ['admin', 'tools.read'], 'other unknown scopes are kept, to be refused')
  t.equal(clientRedirect('http://127.0.0.1:3000/cb?keep=1', { code: 'c', state: undefined, iss: 'https://x' }), 'http://127.0.0.1:3000/cb?keep=1&code=c&iss=https%3A%2F%2Fx')
})
