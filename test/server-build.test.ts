import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { freePort } from './helper.ts'

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
  const child = spawn(process.execPath, [join(outDir, 'server.js')], {
    cwd: root,
    env: { PATH: process.env.PATH, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
  const deadline = Date.now() + 30000
  while (!output.includes('Server listening')) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the compiled server did not start: ${output}`)
    await sleep(50)
  }
  const health = await fetch(`http://127.0.0.1:${port}/health`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const info = await (await fetch(`http://127.0.0.1:${port}/auth/info`)).json() as { version: string }
  const { version } = JSON.parse((await import('node:fs')).readFileSync(join(root, 'package.json'), 'utf8'))
  t.equal(info.version, version, 'package.json found from the compiled config/')

  child.kill('SIGTERM')
  t.equal(await exited, 0)
})
