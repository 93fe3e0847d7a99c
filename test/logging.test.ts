import t from 'tap'
import { Writable } from 'node:stream'
import { build, freePort } from './helper.ts'
import { prettyStream } from '../logging.ts'
import { inTerminal } from './support/terminal.ts'

t.test('log lines name their level as a word ("level":"warn"), audit lines too, so Log Analytics can filter on it', async t => {
  const logs: string[] = []
  await build(t, { LOG_LEVEL: 'info' }, {
    logs,
    setup: (fastify) => {
      fastify.log.warn('something to look at')
      fastify.audit('client.registered', { client_id: 'c1' })
    }
  })
  const lines = logs.map(l => JSON.parse(l))
  t.match(lines.find(l => l.msg === 'something to look at'), { level: 'warn' })
  t.match(lines.find(l => l.event === 'client.registered'), { level: 'info', audit: true })
  t.ok(lines.every(l => typeof l.level === 'string'), 'no numeric level anywhere')
})

t.test('--pretty-logs uses pino-pretty when it is installed, and JSON logs when it is not', async t => {
  const written: string[] = []
  const fake = new Writable({ write (chunk, _encoding, done) { written.push(String(chunk)); done() } })
  let options: Record<string, unknown> = {}
  const stream = await prettyStream(async () => ({ default: (o) => { options = o; return fake } }))
  t.equal(stream, fake, 'the stream pino-pretty made')
  t.match(options, { colorize: true, ignore: 'pid,hostname' })

  const missing = Object.assign(new Error("Cannot find package 'pino-pretty'"), { code: 'ERR_MODULE_NOT_FOUND' })
  t.equal(await prettyStream(async () => { throw missing }), null, 'absent: the caller keeps JSON')
  await t.rejects(prettyStream(async () => { throw new Error('broken install') }), /broken install/, 'another failure is not hidden')
})

t.test('in a terminal without --pretty-logs (npm start), the logs stay JSON lines', async t => {
  const port = await freePort()
  const { output } = await inTerminal('node --import tsx server.ts', { PORT: String(port), HOST: '127.0.0.1' }, 60000, /Server listening[^\n]*\n/)
  const listening = output.split('\n').find(line => line.includes('Server listening'))
  t.ok(listening, output)
  t.match(JSON.parse(listening ?? '{}'), { level: 'info' })
})
