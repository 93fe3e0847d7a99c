import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort } from './helper.ts'
import { startServer } from './fixtures/server-process.ts'

// `npm run build` compiles to plain JavaScript that runs with node alone (no tsx), as in the container.
// The build goes to a private folder (inside the project, so node_modules and package.json are found);
// --noCheck: type errors are the typecheck step's business, this checks that the output runs.

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('the compiled build starts with plain node, answers /health and reports its version', async t => {
  mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true })
  const outDir = mkdtempSync(join(root, 'node_modules', '.cache', 'build-test-'))
  t.teardown(() => rmSync(outDir, { recursive: true, force: true }))
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  await promisify(execFile)(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--noCheck', '--outDir', outDir], { cwd: root })
  t.ok(existsSync(join(outDir, 'server.js')), 'server.js emitted')
  t.notOk(existsSync(join(outDir, 'test')), 'tests are not part of the build')

  const port = await freePort()
  const { child, exited } = await startServer(t, {
    cwd: root,
    args: [join(outDir, 'server.js')],
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }
  })
  const health = await fetch(`http://127.0.0.1:${port}/health`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const info = await (await fetch(`http://127.0.0.1:${port}/auth/info`)).json() as { version: string }
  const { version } = JSON.parse((await import('node:fs')).readFileSync(join(root, 'package.json'), 'utf8'))
  t.equal(info.version, version, 'package.json found from the compiled config/')

  child.kill('SIGTERM')
  t.equal(await exited, 0)
})
