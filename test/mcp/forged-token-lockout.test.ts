// Issue #11 finding 2: forged tokens naming a victim must not spend the victim's /mcp budget.
// Unverified tokens only spend their IP's ceiling; the per-user budget counts verified tokens.
import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { build, redisEnv, requireRedis } from '../helper.ts'
import { auditLines, selfMadeToken } from '../support/rate-limit.ts'
import { SIGNING_KEY_PEM, callTool, injectMcp, mintToken, payloadOf } from '../support/mcp.ts'

const BASE = 'http://localhost:8000'
const VICTIM_IP = '198.51.100.10'
const ATTACKER_IP = '203.0.113.66'

/** Tokens naming the victim (tid, oid, client_id): one unsigned, the rest signed with a key of the attacker's own. */
function forgeries (victim: Record<string, unknown>, count: number): string[] {
  const claims = { iss: BASE, aud: `${BASE}/mcp`, tid: victim.tid, oid: victim.oid, client_id: victim.client_id, sub: victim.sub }
  const signed = selfMadeToken(claims)
  const unsigned = `${signed.split('.').slice(0, 2).join('.')}.`
  return [unsigned, ...Array.from({ length: count - 1 }, (_, i) => selfMadeToken({ ...claims, jti: `forged-${i}` }))]
}

for (const storeKind of ['memory', 'redis'] as const) {
  t.test(`${storeKind} store: 25 forged tokens naming the victim leave the victim's own token working`, async t => {
    if (storeKind === 'redis') await requireRedis()
    const logs: string[] = []
    const env = { ...(storeKind === 'redis' ? redisEnv() : {}), TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, RATE_LIMIT_MCP: '20/60', LOG_LEVEL: 'info' }
    const app = await build(t, env, { logs })
    const victimToken = mintToken(BASE, 'tools.read')
    const victim = payloadOf(victimToken)
    const call = async (token: string, ip: string) => await app.inject({
      method: 'POST',
      url: '/mcp',
      remoteAddress: ip,
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', authorization: `Bearer ${token}` },
      payload: callTool(1, 'whoami')
    })

    const statuses = new Set<number>()
    for (const forged of forgeries(victim, 30)) statuses.add((await call(forged, ATTACKER_IP)).statusCode)
    t.same([...statuses], [401], 'every forgery is refused by the verifier, none as over the victim\'s budget')

    const own = await call(victimToken, VICTIM_IP)
    t.equal(own.statusCode, 200, 'the victim is not locked out')
    t.equal(own.headers['ratelimit-limit'], '20', 'the victim\'s own budget is shown')
    t.equal(own.headers['ratelimit-remaining'], '19', 'and only the victim\'s request was counted on it')
    t.notOk(auditLines(logs, 'rate_limit.exceeded').some(l => l.key_kind === 'user'), 'no user budget was exceeded')
  })
}

t.test('forged tokens still spend the per-IP ceiling, and a flood over it is refused before any verification', async t => {
  const logs: string[] = []
  const app = await build(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, RATE_LIMIT_MCP_PER_IP: '3/60', LOG_LEVEL: 'info' }, { logs })
  const victim = payloadOf(mintToken(BASE, 'tools.read'))
  const statuses: number[] = []
  for (const forged of forgeries(victim, 6)) statuses.push((await injectMcp(app, forged, callTool(1, 'whoami'))).statusCode)
  t.same(statuses, [401, 401, 401, 429, 429, 429])
  const rejected = auditLines(logs, 'token.rejected')
  t.equal(rejected.length, 3, 'the refused flood reached no verifier')
  const exceeded = auditLines(logs, 'rate_limit.exceeded')
  t.equal(exceeded.length, 1)
  t.match(exceeded[0], { key_kind: 'ip_ceiling', family: 'mcp' })
  t.notOk('oid' in exceeded[0], 'an IP ceiling names no user')
})

t.test('the user budget is exceeded by verified tokens only; its audit line names the verified caller', async t => {
  const logs: string[] = []
  const app = await build(t, { TOKEN_SIGNING_KEY: SIGNING_KEY_PEM, RATE_LIMIT_MCP: '2/60', LOG_LEVEL: 'info' }, { logs })
  const token = mintToken(BASE, 'tools.read')
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await injectMcp(app, token, callTool(1, 'whoami'))).statusCode)
  t.same(statuses, [200, 200, 429])
  const [line] = auditLines(logs, 'rate_limit.exceeded')
  const claims = payloadOf(token)
  t.match(line, { key_kind: 'user', oid: claims.oid, tid: claims.tid, client_id: claims.client_id })
  t.equal(line.identity, 'verified')
})

t.test('with Redis a valid token costs one round trip: counters, revocation entries and the store epoch in one script', async t => {
  await requireRedis()
  let inner: FastifyInstance | undefined
  const app = await build(t, { ...redisEnv(), TOKEN_SIGNING_KEY: SIGNING_KEY_PEM }, { setup: instance => { inner = instance } })
  const token = mintToken(BASE, 'tools.read')
  t.equal((await injectMcp(app, token, callTool(1, 'whoami'))).statusCode, 200, 'warm-up (script loaded)')
  const redis = inner!.redis as unknown as { sendCommand: (command: { name: string }, ...rest: unknown[]) => unknown }
  const sent: string[] = []
  const original = redis.sendCommand.bind(redis)
  redis.sendCommand = (command: { name: string }, ...rest: unknown[]) => { sent.push(command.name); return original(command, ...rest) }
  t.teardown(() => { redis.sendCommand = original })
  t.equal((await injectMcp(app, token, callTool(2, 'whoami'))).statusCode, 200)
  t.same(sent, ['evalsha'], 'one command, one round trip')
})
