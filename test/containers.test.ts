import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../config/index.ts'
import { compose, dockerfile, gatewayEnv } from './support/containers.ts'

// No Docker engine here: the compose file is validated with Debian's docker-compose (v1), and the
// Dockerfile's essentials are checked by reading it.

const root = new URL('..', import.meta.url).pathname

t.test('docker-compose.yml is valid (docker-compose config -q)', async t => {
  await compose(['config', '-q'], '')
  t.pass('valid')
})

t.test('an empty .env gives the development setup: dev identity provider on http://localhost:8000 with the compose Redis', async t => {
  const output = await compose(['config'], '')
  const env = gatewayEnv(output)
  t.equal(env.PORT, '8000')
  t.equal(env.MCP_BASE_URL, 'http://localhost:8000')
  t.equal(env.REDIS_URL, 'redis://redis:6379')
  const config = loadConfig(env)
  t.equal(config.devIdentityProvider, true)
  t.equal(config.baseUrl, 'http://localhost:8000')
  t.equal(config.redisUrl, 'redis://redis:6379')
  t.equal(config.port, 8000)
  t.equal(config.host, '0.0.0.0')
  t.match(output, /redis:\n(?:.*\n)*? {4}healthcheck:\n(?:.*\n)*? {6}test:/, 'redis has a healthcheck')
  t.match(output, /depends_on:\n {6}redis:\n {8}condition: service_healthy/, 'the gateway waits for a healthy Redis')
})

t.test('values from .env reach the gateway; PORT stays 8000 inside the container', async t => {
  const output = await compose(['config'], 'AZURE_TENANT_ID=72f988bf-86f1-41af-91ab-2d7cd011db47\nLOG_LEVEL=debug\nPORT=9999\nMCP_BASE_URL=https://mcp.example.com\n')
  const env = gatewayEnv(output)
  t.equal(env.AZURE_TENANT_ID, '72f988bf-86f1-41af-91ab-2d7cd011db47')
  t.equal(env.LOG_LEVEL, 'debug')
  t.equal(env.MCP_BASE_URL, 'https://mcp.example.com')
  t.equal(env.PORT, '8000')
})

t.test('Dockerfile: multi-stage, production deps only, non-root, healthcheck on /health, port 8000', async t => {
  const { lines } = dockerfile()
  const froms = lines.map((line, i) => [line, i] as const).filter(([line]) => /^FROM /i.test(line))
  t.ok(froms.length >= 2, 'at least two stages')
  t.match(froms[0][0], /^FROM node:\S+ AS build$/i, 'a named build stage on a node image')
  const runtime = lines.slice(froms[froms.length - 1][1])
  t.match(runtime[0], /^FROM node:\d+[-.\w]*/i, 'the runtime stage is a node image')
  const build = lines.slice(froms[0][1], froms[1][1])
  t.ok(build.some(line => /^RUN .*npm run build/.test(line)), 'the build stage compiles TypeScript')

  const installs = runtime.filter(line => /^RUN .*npm (ci|install|i)\b/.test(line))
  t.equal(installs.length, 1, 'one install in the runtime stage')
  t.match(installs[0], /npm ci .*--omit=dev/, 'production dependencies only')
  t.notOk(runtime.some(line => /^COPY .*node_modules/.test(line)), 'no node_modules copied from the build stage')
  t.ok(runtime.some(line => /^COPY --from=build \/app\/dist /.test(line)), 'the compiled dist is copied in')

  const users = runtime.filter(line => /^USER /i.test(line))
  t.equal(users.length, 1)
  t.notMatch(users[0], /^USER (root|0)(:|$)/i, 'not root')
  const userAt = runtime.indexOf(users[0])
  const cmdAt = runtime.findIndex(line => /^CMD /.test(line))
  t.ok(userAt < cmdAt, 'USER comes before CMD')

  const health = runtime.find(line => /^HEALTHCHECK /.test(line)) ?? ''
  t.match(health, /CMD \["node"/, 'the healthcheck uses node (slim has no curl)')
  t.match(health, /\/health'/, 'on /health')
  t.notMatch(health, /curl|wget/)
  t.ok(runtime.includes('EXPOSE 8000'))
  t.equal(runtime[cmdAt], 'CMD ["node", "dist/server.js"]', 'exec-form CMD, so node gets SIGTERM')
})

t.test('.dockerignore keeps secrets, dependencies and build output out of the image context', async t => {
  const ignored = readFileSync(join(root, '.dockerignore'), 'utf8').split('\n').map(line => line.trim())
  for (const entry of ['.env', 'node_modules', 'dist', '.git']) t.ok(ignored.includes(entry), entry)
})
