import t from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from './helper.ts'
import { startServer } from './support/server-process.ts'
import { compiledBuild } from './support/compiled-build.ts'

// `npm run build` compiles to plain JavaScript that runs with node alone (no tsx), as in the container.
// The build is test/support/compiled-build.ts's (inside the project, so node_modules and package.json are found,
// shared with the image test); --noCheck: type errors are the typecheck step's business, this checks that the output runs.

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('the compiled build starts with plain node, answers /health and reports its version', async t => {
  const outDir = await compiledBuild()
  t.ok(existsSync(join(outDir, 'server.js')), 'server.js emitted')
  t.notOk(existsSync(join(outDir, 'test')), 'tests are not part of the build')

  const port = await freePort()
  const { child, exited } = await startServer(t, {
    cwd: root,
    args: [join(outDir, 'server.js')],
    // METRICS_TOKEN: the metrics plugin imports its instrumentation only when it is set.
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', METRICS_TOKEN: 'build-test-metrics-token-0123456789abcdef' }
  })
  const health = await fetch(`http://127.0.0.1:${port}/health`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const info = await (await fetch(`http://127.0.0.1:${port}/auth/info`)).json() as { version: string }
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  t.equal(info.version, version, 'package.json found from the compiled config/')
  const metrics = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: 'Bearer build-test-metrics-token-0123456789abcdef' } })
  t.equal(metrics.status, 200, 'the lazily imported metrics instrumentation loads from the build')
  await metrics.arrayBuffer()

  child.kill('SIGTERM')
  t.equal(await exited, 0)
})

t.test('the compiled build has the admin dashboard\'s assets beside its code (the build copies them)', async t => {
  const outDir = await compiledBuild()
  const assets = await import(join(outDir, 'routes', 'admin', 'assets.js')) as typeof import('../routes/admin/assets.ts')
  t.match(assets.assetUrl('dashboard.js'), /^\/admin\/assets\/dashboard\.[0-9a-f]{12}\.js$/)
  t.match(assets.assetUrl('admin.css'), /^\/admin\/assets\/admin\.[0-9a-f]{12}\.css$/)
})

t.test('every relative import of the compiled build names a .js file (TypeScript does not rewrite every import() it emits)', async t => {
  const outDir = await compiledBuild()
  const tsImport = /(?:from\s*|import\s*\(\s*)['"](\.{1,2}\/[^'"]*\.ts)['"]/g
  const found: string[] = []
  for (const file of readdirSync(outDir, { recursive: true, encoding: 'utf8' }).filter(f => f.endsWith('.js'))) {
    for (const m of readFileSync(join(outDir, file), 'utf8').matchAll(tsImport)) found.push(`${file}: ${m[1]}`)
  }
  t.same(found, [])
})
