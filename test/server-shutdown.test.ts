import t from 'tap'
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { freePort } from './helper.ts'

// The real server.ts in its own process: SIGTERM while a request is in flight lets it finish, then exit 0.

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('SIGTERM while a slow request is in flight: it completes, then the process exits 0', async t => {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'server.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { child.kill('SIGKILL') })
  let output = ''
  child.stdout.on('data', chunk => { output += chunk })
  child.stderr.on('data', chunk => { output += chunk })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))

  const deadline = Date.now() + 60000
  while (!output.includes('Server listening')) {
    if (Date.now() > deadline) throw new Error(`the server did not start: ${output}`)
    if (child.exitCode !== null) throw new Error(`the server exited early: ${output}`)
    await sleep(50)
  }

  // A POST whose JSON body arrives in two parts; the server answers once it has all of it.
  const parts = ['{"part":"one",', '"two":"2"}']
  let bodyDone = false
  const response = new Promise<{ status?: number, body: string }>((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/slow-upload', headers: { 'content-type': 'application/json', 'content-length': String(parts.join('').length) } }, res => {
      let body = ''
      res.on('data', chunk => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('error', reject)
    req.write(parts[0])
    setTimeout(() => { bodyDone = true; req.end(parts[1]) }, 1500)
  })
  await sleep(300)
  t.ok(child.kill('SIGTERM'), 'SIGTERM sent while the body is still arriving')

  const res = await response.catch(err => { throw new Error(`${err.message}; server output:\n${output}`) })
  t.ok(bodyDone, 'the answer came after the whole body')
  t.equal(res.status, 404, 'the request was handled normally (no route of that name), not refused')
  t.equal(JSON.parse(res.body).error, 'not_found')
  t.equal(await exited, 0, 'exit code 0')
  t.match(output, /closing: finishing in-flight requests/)
  t.notMatch(output, /killed by timeout/)
})
