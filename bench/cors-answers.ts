// Prints the service's answer (status and headers, bodies shortened) to 276 request variants
// (23 paths × 12 method/Origin/preflight combinations), for comparing two CORS implementations
// by diffing their output: `npx tsx bench/cors-answers.ts > hook.txt`, swap the implementation
// (docs/architecture.md, Deviations), run it again and `diff`. Not a bench: it measures nothing.
import { build } from '../test/helper.ts'

const ORIGIN = 'https://inspector.example.com'
const PATHS = ['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration', '/.well-known/oauth-protected-resource',
  '/.well-known/oauth-protected-resource/mcp', '/.well-known/jwks.json', '/.well-known/nope', '/.well-known/',
  '/register', '/token', '/token?x=1', '/revoke', '/mcp', '/mcp/', '/health', '/health/ready', '/auth/info', '/authorize',
  '/auth/callback', '/consent', '/nowhere', '/', '/tokens', '/dev-idp/.well-known/openid-configuration']
const VARIANTS: Array<[string, Record<string, string>]> = [
  ['GET', {}], ['GET', { origin: ORIGIN }], ['HEAD', { origin: ORIGIN }], ['POST', {}], ['POST', { origin: ORIGIN }],
  ['DELETE', { origin: ORIGIN }], ['PUT', { origin: ORIGIN }], ['GET', { origin: ORIGIN, vary: 'x' }],
  ['OPTIONS', { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization' }],
  ['OPTIONS', { origin: ORIGIN }], ['OPTIONS', { 'access-control-request-method': 'POST' }], ['OPTIONS', {}]
]
// Values that differ on every run (ids, dates) are left out, so two runs diff only where answers do.
const VOLATILE_HEADERS = new Set(['date', 'x-request-id', 'content-length', 'etag'])
const VOLATILE_FIELDS = /"(client_id|jti|request_id|state|id|n|kid|e)":"[^"]*"/g

const app = await build({ teardown: () => {} } as unknown as Parameters<typeof build>[0])
const lines: string[] = []
for (const path of PATHS) {
  for (const [method, headers] of VARIANTS) {
    const res = await app.inject({ method: method as 'GET', url: path, headers })
    const kept = Object.entries(res.headers).filter(([k]) => !VOLATILE_HEADERS.has(k)).sort(([a], [b]) => a.localeCompare(b))
    lines.push(`${method} ${path} ${JSON.stringify(headers)} -> ${res.statusCode}\n  ${kept.map(([k, v]) => `${k}: ${String(v)}`).join('\n  ')}\n  body: ${res.body.replace(VOLATILE_FIELDS, '"$1":"…"').slice(0, 200)}`)
  }
}
process.stdout.write(lines.join('\n') + '\n')
process.stderr.write(`${lines.length} variants\n`)
await app.close()
