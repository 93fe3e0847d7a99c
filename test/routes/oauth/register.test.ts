import t from 'tap'
import { build } from '../../helper.ts'
import { buildWithRegistry } from '../../support/metadata-document-server.ts'
import { auditsOf } from '../../support/oauth-flow.ts'

const register = (payload: unknown) => ({ method: 'POST' as const, url: '/register', payload: payload as Record<string, unknown> })

t.test('registers a public MCP client: 201 with the registered metadata and no secret', async t => {
  const { app, inner } = await buildWithRegistry(t)
  const res = await app.inject(register({
    client_name: 'MCP Inspector',
    redirect_uris: ['http://localhost:6274/oauth/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    scope: 'tools.read'
  }))
  t.equal(res.statusCode, 201)
  t.equal(res.headers['cache-control'], 'no-store')
  const body = res.json()
  t.match(body, {
    client_id: String,
    client_id_issued_at: Number,
    client_name: 'MCP Inspector',
    redirect_uris: ['http://localhost:6274/oauth/callback'],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
    scope: 'tools.read'
  })
  t.notOk('client_secret' in body)
  t.notOk('client_secret_hash' in body)
  t.ok(Math.abs(body.client_id_issued_at - Date.now() / 1000) < 60)
  const stored = await inner.clients.get(body.client_id)
  t.match(stored, { client_id: body.client_id, source: 'registered', token_endpoint_auth_method: 'none' })
})

t.test('registers a confidential client: the secret is returned once and only its hash is stored', async t => {
  const { app, inner } = await buildWithRegistry(t)
  const res = await app.inject(register({ redirect_uris: ['https://app.example.com/callback'] }))
  t.equal(res.statusCode, 201)
  const body = res.json()
  t.equal(body.token_endpoint_auth_method, 'client_secret_basic', 'RFC 7591 default')
  t.type(body.client_secret, 'string')
  t.equal(body.client_secret_expires_at, 0)
  const raw = await inner.store.get(`client:${body.client_id}`) as string
  t.notMatch(raw, body.client_secret)
  const stored = await inner.clients.get(body.client_id)
  t.ok(inner.clients.authenticate(stored!, { clientSecret: body.client_secret }))
  t.notOk(inner.clients.authenticate(stored!, { clientSecret: `${body.client_secret}x` }))

  const post = await app.inject(register({ redirect_uris: ['https://app.example.com/callback'], token_endpoint_auth_method: 'client_secret_post' }))
  t.equal(post.json().token_endpoint_auth_method, 'client_secret_post')
  t.type(post.json().client_secret, 'string')
  t.not(post.json().client_id, body.client_id, 'every registration gets its own id')
})

t.test('registration is audited without the secret', async t => {
  const logs: string[] = []
  const app = await build(t, { LOG_LEVEL: 'info' }, { logs })
  const res = await app.inject(register({ redirect_uris: ['https://app.example.com/callback'], client_name: 'Audited' }))
  t.equal(res.statusCode, 201)
  const [audit] = auditsOf(logs, 'client.registered')
  t.match(audit, { event: 'client.registered', client_id: res.json().client_id, client_name: 'Audited', outcome: 'success', redirect_hosts: ['app.example.com'] })
  t.notOk(logs.some(l => l.includes(res.json().client_secret)), 'the secret never reaches a log line')
})

t.test('refuses unsafe redirect URIs with invalid_redirect_uri', async t => {
  const app = await build(t)
  for (const redirectUris of [
    ['javascript:alert(document.cookie)'],
    ['data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='],
    ['http://app.example.com/callback'],
    ['http://10.1.2.3/callback'],
    ['/callback'],
    ['https://app.example.com/callback#token'],
    ['https://app.example.com/ok', 'http://evil.example/cb'],
    [],
    'https://app.example.com/callback',
    [42]
  ]) {
    const res = await app.inject(register({ redirect_uris: redirectUris }))
    t.equal(res.statusCode, 400, JSON.stringify(redirectUris))
    t.equal(res.json().error, 'invalid_redirect_uri', JSON.stringify(redirectUris))
    t.type(res.json().error_description, 'string')
  }
  const missing = await app.inject(register({ client_name: 'no redirect' }))
  t.equal(missing.statusCode, 400)
  t.equal(missing.json().error, 'invalid_redirect_uri')
})

t.test('refuses inconsistent or unsupported metadata with invalid_client_metadata', async t => {
  const app = await build(t)
  const redirect = { redirect_uris: ['https://app.example.com/callback'] }
  for (const extra of [
    { token_endpoint_auth_method: 'private_key_jwt' },
    { token_endpoint_auth_method: 'client_secret_jwt' },
    { grant_types: ['client_credentials'] },
    { grant_types: ['implicit'], response_types: ['token'] },
    { grant_types: 'authorization_code' },
    { response_types: ['token'] },
    { scope: 'tools.read admin.everything' },
    { client_name: 'n'.repeat(201) },
    { client_uri: 'javascript:alert(1)' },
    { logo_uri: 'ftp://example.com/logo.png' }
  ]) {
    const res = await app.inject(register({ ...redirect, ...extra }))
    t.equal(res.statusCode, 400, JSON.stringify(extra))
    t.equal(res.json().error, 'invalid_client_metadata', JSON.stringify(extra))
  }
})

t.test('VS Code\'s registration (device_code among its grants) is accepted with the device grant kept', async t => {
  const app = await build(t)
  const res = await app.inject(register({
    client_name: 'Visual Studio Code',
    redirect_uris: ['http://127.0.0.1:33418/', 'https://vscode.dev/redirect'],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none'
  }))
  t.equal(res.statusCode, 201)
  t.same(res.json().grant_types, ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'], 'the answer names what was registered (RFC 7591 §3.2.1)')
})

t.test('a device-only client (RFC 8628, no browser of its own) registers without redirect URIs: response_types [], nothing redirect-based', async t => {
  const { app, inner } = await buildWithRegistry(t)
  const device = 'urn:ietf:params:oauth:grant-type:device_code'
  const res = await app.inject(register({ client_name: 'CI runner', grant_types: [device, 'refresh_token'], token_endpoint_auth_method: 'none' }))
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json(), { client_name: 'CI runner', redirect_uris: [], grant_types: ['refresh_token', device], response_types: [], token_endpoint_auth_method: 'none' })
  t.match(await inner.clients.get(res.json().client_id), { redirect_uris: [], response_types: [], grant_types: ['refresh_token', device] })
  const empty = await app.inject(register({ grant_types: [device], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' }))
  t.equal(empty.statusCode, 201, 'redirect_uris [] and response_types [] said outright; a confidential one gets its secret')
  t.match(empty.json(), { redirect_uris: [], response_types: [], client_secret: String })

  for (const [extra, error] of [
    [{ response_types: ['code'] }, 'invalid_client_metadata'],
    [{ redirect_uris: ['https://app.example.com/callback'] }, 'invalid_client_metadata'],
    [{ redirect_uris: 'https://app.example.com/callback' }, 'invalid_redirect_uri']
  ] as const) {
    const refused = await app.inject(register({ grant_types: [device], ...extra }))
    t.equal(refused.statusCode, 400, JSON.stringify(extra))
    t.equal(refused.json().error, error, JSON.stringify(extra))
  }
  for (const grants of [['refresh_token'], ['authorization_code', device], undefined]) {
    const refused = await app.inject(register({ ...(grants !== undefined ? { grant_types: grants } : {}), client_name: 'no redirect' }))
    t.match(refused.json(), { error: 'invalid_redirect_uri', error_description: /redirect_uris is required/ }, `grant_types ${JSON.stringify(grants)}: the code flow needs a redirect URI`)
  }
})

t.test('application_type (SEP-837): native or web is stored and echoed, web when absent; other values are invalid_client_metadata', async t => {
  const { app, inner } = await buildWithRegistry(t)
  const loopback = { redirect_uris: ['http://127.0.0.1:39123/callback'], token_endpoint_auth_method: 'none' }
  for (const [sent, kept] of [['native', 'native'], ['web', 'web'], [undefined, 'web']] as const) {
    const res = await app.inject(register({ ...loopback, application_type: sent }))
    t.equal(res.statusCode, 201, `${sent ?? 'absent'}: accepted with a loopback redirect URI`)
    t.equal(res.json().application_type, kept, `${sent ?? 'absent'}: echoed as registered (RFC 7591 §3.2.1)`)
    t.equal((await inner.clients.get(res.json().client_id))?.application_type, kept, `${sent ?? 'absent'}: stored`)
  }
  for (const bad of ['browser', 'NATIVE', '', 42, ['native'], null]) {
    const res = await app.inject(register({ ...loopback, application_type: bad }))
    t.equal(res.statusCode, 400, JSON.stringify(bad))
    t.equal(res.json().error, 'invalid_client_metadata', JSON.stringify(bad))
    t.match(res.json().error_description, /application_type/, JSON.stringify(bad))
  }
})

t.test('sign-in scopes in a registration (openid, offline_access, ...) are ignored, not refused', async t => {
  const app = await build(t)
  const res = await app.inject(register({ redirect_uris: ['http://127.0.0.1:39123/callback'], token_endpoint_auth_method: 'none', scope: 'openid profile offline_access tools.read' }))
  t.equal(res.statusCode, 201)
  t.equal(res.json().scope, 'tools.read')
})

t.test('ALLOWED_REDIRECT_URIS narrows which redirect URIs may be registered', async t => {
  const app = await build(t, { ALLOWED_REDIRECT_URIS: 'https://claude.ai/api/mcp/auth_callback http://127.0.0.1/callback' })
  t.equal((await app.inject(register({ redirect_uris: ['https://claude.ai/api/mcp/auth_callback'], token_endpoint_auth_method: 'none' }))).statusCode, 201)
  t.equal((await app.inject(register({ redirect_uris: ['http://127.0.0.1:39123/callback'], token_endpoint_auth_method: 'none' }))).statusCode, 201)
  const refused = await app.inject(register({ redirect_uris: ['https://app.example.com/callback'], token_endpoint_auth_method: 'none' }))
  t.equal(refused.statusCode, 400)
  t.equal(refused.json().error, 'invalid_redirect_uri')
})

t.test('malformed, oversized and non-JSON bodies get 4xx, never 500', async t => {
  const app = await build(t)
  const malformed = await app.inject({ method: 'POST', url: '/register', headers: { 'content-type': 'application/json' }, payload: '{"redirect_uris": [' })
  t.equal(malformed.statusCode, 400)
  t.equal(malformed.json().error, 'invalid_request')

  const empty = await app.inject({ method: 'POST', url: '/register', headers: { 'content-type': 'application/json' }, payload: '' })
  t.equal(empty.statusCode, 400)

  for (const payload of ['[]', '"https://app.example.com/cb"', 'null', '42']) {
    const res = await app.inject({ method: 'POST', url: '/register', headers: { 'content-type': 'application/json' }, payload })
    t.equal(res.statusCode, 400, payload)
    t.match(res.json().error, /^invalid_(client_metadata|request|redirect_uri)$/, payload)
  }

  const oversized = await app.inject(register({ redirect_uris: ['https://app.example.com/callback'], client_name: 'x', padding: 'y'.repeat(20 * 1024) }))
  t.equal(oversized.statusCode, 413)
  t.equal(oversized.json().error, 'invalid_request')

  const text = await app.inject({ method: 'POST', url: '/register', headers: { 'content-type': 'text/plain' }, payload: 'redirect_uris=https://x' })
  t.ok(text.statusCode >= 400 && text.statusCode < 500, `text/plain refused (${text.statusCode})`)
})

t.test('POST /register is rate limited in its own family', async t => {
  const app = await build(t, { RATE_LIMIT_REGISTER: '2/3600' })
  const body = { redirect_uris: ['http://127.0.0.1/cb'], token_endpoint_auth_method: 'none' }
  t.equal((await app.inject(register(body))).statusCode, 201)
  t.equal((await app.inject(register(body))).statusCode, 201)
  const limited = await app.inject(register(body))
  t.equal(limited.statusCode, 429)
})
