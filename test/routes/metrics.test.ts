// GET /metrics: off (404, nothing registered) unless METRICS_TOKEN is set; then only for that
// bearer token, compared in constant time, rate limited per IP before the comparison.
import t from 'tap'
import diagnostics from 'node:diagnostics_channel'
import type { FastifyInstance } from 'fastify'
import { build, redisEnv } from '../helper.ts'
import { loadConfig, ConfigError } from '../../config/index.ts'

const TOKEN = 'Zm9yLXRlc3RzLW9ubHktbWV0cmljcy10b2tlbg.0123456789'
const auth = (token: string) => ({ authorization: `Bearer ${token}` })
const ioredisSubscribed = () => diagnostics.tracingChannel('ioredis:command').start.hasSubscribers
const undiciSubscribed = () => diagnostics.hasSubscribers('undici:request:create')

async function inner (t: Parameters<typeof build>[0], env: Record<string, string>, logs?: string[]) {
  let api: FastifyInstance | undefined
  const app = await build(t, env, { logs, setup: i => { api = i } })
  return { app, api: api as FastifyInstance }
}

// First, while no app with metrics exists in this process: the channels have no subscriber.
t.test('without METRICS_TOKEN: /metrics is 404, and nothing is registered, hooked or subscribed', async t => {
  const { app, api } = await inner(t, redisEnv())
  t.equal(api.metrics, null)
  const res = await app.inject({ url: '/metrics', headers: auth(TOKEN) })
  t.equal(res.statusCode, 404)
  t.equal(res.headers['www-authenticate'], undefined)
  t.equal(ioredisSubscribed(), false, 'ioredis publishes no command events (it checks for subscribers)')
  t.equal(undiciSubscribed(), false, 'no undici subscription')
})

t.test('with METRICS_TOKEN: 200 in the Prometheus text format for the token, with the default process metrics prefixed', async t => {
  const { app } = await inner(t, { METRICS_TOKEN: TOKEN })
  await app.inject('/health')
  const res = await app.inject({ url: '/metrics', headers: auth(TOKEN) })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4; charset=utf-8$/)
  t.equal(res.headers['cache-control'], 'no-store')
  t.match(res.body, /^# HELP emg_http_request_duration_seconds /m)
  t.match(res.body, /^# TYPE emg_http_request_duration_seconds histogram$/m)
  t.match(res.body, /^emg_http_request_duration_seconds_count\{host="[^"]+",route="\/health",method="GET",status_code="200"\} 1$/m)
  t.match(res.body, /^emg_process_cpu_user_seconds_total\{host="[^"]+"\} /m, 'default metrics, prefixed')
  t.match(res.body, /^emg_nodejs_eventloop_lag_seconds\{host="[^"]+"\} /m)
  t.notMatch(res.body, /^process_cpu/m, 'none without the prefix')
})

t.test('a missing, wrong or other-scheme credential gets the same 401 with WWW-Authenticate: Bearer and no detail', async t => {
  const { app } = await inner(t, { METRICS_TOKEN: TOKEN })
  const answers = []
  for (const headers of [{}, auth(`${TOKEN}x`), auth(TOKEN.slice(0, -1)), auth('short'), { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}` }, { authorization: TOKEN }]) {
    const res = await app.inject({ url: '/metrics', headers })
    t.equal(res.statusCode, 401)
    t.equal(res.headers['www-authenticate'], 'Bearer realm="metrics"')
    t.notMatch(res.body, /emg_/)
    answers.push(res.body)
  }
  t.equal(new Set(answers).size, 1, 'one answer whatever was wrong')
  t.same(JSON.parse(answers[0]), { error: 'unauthorized', error_description: 'This endpoint needs the metrics bearer token' })
  const unmatched = await app.inject({ url: '/metrics/', headers: auth(TOKEN) })
  t.equal(unmatched.statusCode, 404, 'only the exact path')
})

t.test('wrong tokens are rate limited per IP before the comparison: past the limit even the right token gets 429 from that IP', async t => {
  const { app } = await inner(t, { METRICS_TOKEN: TOKEN, RATE_LIMIT_METRICS: '3/60' })
  const from = (remoteAddress: string, token: string) => app.inject({ url: '/metrics', remoteAddress, headers: auth(token) })
  for (let i = 0; i < 3; i++) t.equal((await from('198.51.100.7', `guess-${i}`)).statusCode, 401)
  const limited = await from('198.51.100.7', 'guess-4')
  t.equal(limited.statusCode, 429)
  t.ok(Number(limited.headers['retry-after']) > 0)
  t.equal((await from('198.51.100.7', TOKEN)).statusCode, 429, 'a right guess past the limit tells nothing')
  t.equal((await from('198.51.100.8', TOKEN)).statusCode, 200, 'another address is not affected')
})

t.test('with Redis: store command metrics are observed; on close the channels are unsubscribed', async t => {
  const { app } = await inner(t, { METRICS_TOKEN: TOKEN, ...redisEnv() })
  t.equal(ioredisSubscribed(), true)
  t.equal(undiciSubscribed(), true)
  await app.inject('/health/ready') // a PING
  await app.inject({ url: '/metrics', headers: auth(TOKEN) }) // the rate limiter's counter script
  const text = (await app.inject({ url: '/metrics', headers: auth(TOKEN) })).body
  t.match(text, /^emg_store_command_duration_seconds_count\{host="[^"]+",command="ping"\} [1-9]/m)
  t.match(text, /^emg_store_command_duration_seconds_count\{host="[^"]+",command="eval(sha)?"\} [1-9]/m, 'the counter script of the scrapes')
  t.match(text, /^emg_store_command_duration_seconds_bucket\{le="0.0005",host="[^"]+",command="ping"\} \d+$/m, 'as a histogram')
  t.notMatch(text, /command="[^"]*(test:|rl:)/, 'no key in a label')
  await app.close()
  t.equal(ioredisSubscribed(), false)
  t.equal(undiciSubscribed(), false)
})

t.test('METRICS_TOKEN: at least 32 token characters; a refusal never echoes the value; config.loaded and the logs never show it', async t => {
  for (const bad of ['too-short-0123456789', 'has spaces in it but is long enough to pass the length', 'quote"d-0123456789-0123456789-0123456789']) {
    let refused: ConfigError | undefined
    try { loadConfig({ METRICS_TOKEN: bad }) } catch (err) { refused = err as ConfigError }
    t.ok(refused instanceof ConfigError, `refused: ${bad.length} characters`)
    t.match(refused?.message, /METRICS_TOKEN must be at least 32 characters/)
    t.notOk(refused?.message.includes(bad), 'the value is not echoed')
  }
  t.equal(loadConfig({ METRICS_TOKEN: TOKEN }).metrics.token, TOKEN)
  t.equal(loadConfig({}).metrics.token, undefined)

  const logs: string[] = []
  const { app } = await inner(t, { METRICS_TOKEN: TOKEN, LOG_LEVEL: 'trace' }, logs)
  await app.inject({ url: '/metrics', headers: auth(TOKEN) })
  await app.inject({ url: '/metrics', headers: auth('wrong-token') })
  const loaded = logs.map(l => JSON.parse(l)).find(l => l.event === 'config.loaded')
  t.ok(loaded, 'config.loaded was written')
  t.equal(loaded.metrics, true, 'it says metrics are on')
  t.notOk(logs.some(l => l.includes(TOKEN)), 'no log line holds the token')
})
