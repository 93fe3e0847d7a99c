import t from 'tap'
import { request } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { freePort } from './helper.ts'
import { startServer } from './support/server-process.ts'

// The real server.ts in its own process: SIGTERM while a request is in flight lets it finish, then exit 0.

const root = fileURLToPath(new URL('..', import.meta.url))

t.test('SIGTERM while a slow request is in flight: it completes, then the process exits 0', async t => {
  const port = await freePort()
  const server = await startServer(t, {
    cwd: root,
    args: ['--import', 'tsx', 'server.ts'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info' }
  })
  const { child, exited } = server

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

  const res = await response.catch(err => { throw new Error(`${err.message}; server output:\n${server.output()}`) })
  t.ok(bodyDone, 'the answer came after the whole body')
  t.equal(res.status, 404, 'the request was handled normally (no route of that name), not refused')
  t.equal(JSON.parse(res.body).error, 'not_found')
  t.equal(await exited, 0, 'exit code 0')
  t.match(server.output(), /closing: finishing in-flight requests/)
  t.notMatch(server.output(), /killed by timeout/)
})
