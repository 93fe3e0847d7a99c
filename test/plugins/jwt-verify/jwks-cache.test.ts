// The Entra key-set cache against a real local JWKS server, with a fake clock:
// one fetch per set, rotation, removal, throttled refetch, outage with stale keys, bounded fetches.
import t, { type Test } from 'tap'
import { RemoteKeySet } from '../../../plugins/jwt-verify/jwks-cache.ts'
import { makeRsaKey, startJwksServer, TENANT } from '../../support/jwks-server.ts'

const A = makeRsaKey('key-a')
const B = makeRsaKey('key-b')
const C = makeRsaKey('key-c')

function fakeClock (start = 1_700_000_000_000) {
  const clock = { now: start, tick: (ms: number) => { clock.now += ms } }
  return clock
}

async function setup (t: Test, opts: { timeoutMs?: number } = {}) {
  const server = await startJwksServer(t, [A])
  const clock = fakeClock()
  const problems: string[] = []
  const set = new RemoteKeySet<string>({
    url: server.keysUrl(TENANT),
    convert: (jwk, pem) => `${jwk.kid}|${pem.length > 0 ? 'pem' : ''}`,
    now: () => clock.now,
    timeoutMs: opts.timeoutMs ?? 1000,
    onProblem: (message) => problems.push(message)
  })
  return { server, clock, set, problems }
}

t.test('one fetch loads the whole set; later lookups are synchronous', async t => {
  const { server, set } = await setup(t)
  server.setKeys([A, B])
  t.equal(set.peek('key-a'), undefined, 'nothing before the first fetch')
  t.equal(await set.get('key-a'), 'key-a|pem')
  t.equal(set.peek('key-b'), 'key-b|pem', 'the other key came with the same fetch')
  t.equal(server.requests.length, 1)
  t.equal(set.state, 'fresh')
})

t.test('concurrent lookups share one fetch', async t => {
  const { server, set } = await setup(t)
  const results = await Promise.all(Array.from({ length: 20 }, () => set.get('key-a')))
  t.ok(results.every(r => r === 'key-a|pem'))
  t.equal(server.requests.length, 1)
})

t.test('rotation: a new kid is picked up after one refetch; unknown kids refetch at most once per 30 s', async t => {
  const { server, set, clock } = await setup(t)
  t.ok(await set.get('key-a'))
  server.setKeys([A, B])
  clock.tick(1000)
  t.equal(await set.get('key-b'), 'key-b|pem', 'new kid accepted after one refetch')
  t.equal(server.requests.length, 2)
  clock.tick(1000)
  t.equal(await set.get('made-up'), undefined)
  t.equal(await set.get('../../etc/passwd'), undefined)
  t.equal(await set.get('https://evil.example.com/keys'), undefined)
  t.equal(server.requests.length, 2, 'no refetch within 30 s of the last one')
  t.ok(server.requests.every(p => p === `/${TENANT}/discovery/v2.0/keys`), 'the kid never reaches the URL')
  clock.tick(30_000)
  t.equal(await set.get('made-up'), undefined)
  t.equal(server.requests.length, 3, 'one refetch once 30 s have passed')
})

t.test('a key removed from the JWKS is refused after the next refetch (cache of 1 hour)', async t => {
  const { server, set, clock } = await setup(t)
  server.setKeys([A, B])
  t.ok(await set.get('key-a'))
  server.setKeys([B])
  clock.tick(59 * 60_000)
  t.equal(set.peek('key-a'), 'key-a|pem', 'still cached within the hour')
  t.equal(server.requests.length, 1)
  clock.tick(60_000)
  t.equal(set.peek('key-a'), undefined, 'expired after an hour')
  t.equal(await set.get('key-a'), undefined, 'refused after the refetch')
  t.equal(await set.get('key-b'), 'key-b|pem')
  t.equal(server.requests.length, 2)
})

for (const mode of ['down', 'refuse', 'garbage', 'hang'] as const) {
  t.test(`outage (${mode}): cached keys keep serving, unknown kids are refused quickly, no refetch storm`, async t => {
    const { server, set, clock, problems } = await setup(t, { timeoutMs: 300 })
    t.ok(await set.get('key-a'))
    server.setMode(mode)
    clock.tick(61 * 60_000)
    t.equal(set.state, 'stale')
    const started = Date.now()
    t.equal(await set.get('key-a'), 'key-a|pem', 'stale key served when the refetch fails')
    t.ok(Date.now() - started < 2000, 'the failed fetch is bounded')
    t.equal(problems.length, 1, 'the failure is reported')
    const fetched = server.requests.length
    t.equal(await set.get('key-a'), 'key-a|pem')
    t.equal(await set.get('unknown'), undefined, 'unknown kid: refused')
    t.equal(server.requests.length, fetched, 'no retry within 30 s of a failure')
    clock.tick(30_000)
    server.setMode('ok')
    server.setKeys([A, C])
    t.equal(await set.get('key-c'), 'key-c|pem', 'recovers once the endpoint is back')
    t.equal(set.state, 'fresh')
  })
}

t.test('no keys at all and the endpoint down: refused (undefined), bounded, not retried at once', async t => {
  const { server, set } = await setup(t, { timeoutMs: 200 })
  server.setMode('hang')
  const started = Date.now()
  t.equal(await set.get('key-a'), undefined)
  t.ok(Date.now() - started < 1500, `bounded (${Date.now() - started} ms)`)
  t.equal(await set.get('key-a'), undefined)
  t.equal(server.requests.length, 1)
  t.equal(set.state, 'none')
})

t.test('a JWKS without usable keys, or too large, is a failed fetch', async t => {
  const server = await startJwksServer(t, [])
  const problems: Array<Record<string, unknown>> = []
  const set = new RemoteKeySet<string>({ url: server.keysUrl(TENANT), convert: (jwk) => jwk.kid, onProblem: (_m, d) => problems.push(d) })
  t.equal(await set.get('x'), undefined)
  t.match(problems[0], { reason: /no usable RS256 key/ })
  const small = new RemoteKeySet<string>({ url: server.keysUrl(TENANT), convert: (jwk) => jwk.kid, maxBytes: 100, onProblem: (_m, d) => problems.push(d) })
  server.setKeys([A])
  t.equal(await small.get('key-a'), undefined)
  t.match(problems[1], { reason: /larger than 100 bytes/ })
})

t.test('onRefresh is told of each fetch and whether it gave a usable set (metrics)', async t => {
  const server = await startJwksServer(t, [A])
  const clock = fakeClock()
  const refreshes: boolean[] = []
  const set = new RemoteKeySet<string>({ url: server.keysUrl(TENANT), convert: (jwk) => jwk.kid, now: () => clock.now, onRefresh: ok => refreshes.push(ok) })
  t.equal(await set.get('key-a'), 'key-a')
  t.equal(await set.get('key-a'), 'key-a')
  t.same(refreshes, [true], 'a cached key: no fetch, nothing told')
  server.setMode('down')
  clock.tick(3600_000)
  await set.get('key-a')
  t.same(refreshes, [true, false], 'the expired set refetched, and the endpoint down')
})
