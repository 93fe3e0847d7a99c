// The device grant's records in the grants model (in-memory store, fake clocks): one answer per
// device authorization, one redemption, bound to its client, paced, and ended by time.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../../../../plugins/store/memory.ts'
import { createTokenCipher } from '../../../../plugins/oauth-proxy/grants/token-crypto.ts'
import { createGrantStore } from '../../../../plugins/oauth-proxy/grants/model.ts'
import { DEVICE_CODE_TTL, DEVICE_POLL_INTERVAL } from '../../../../plugins/oauth-proxy/grants/records.ts'

/** An OAuth error with this code (and a description matching `message`). */
const oauth = (code: string, message = /./) => ({ oauthError: code, message })

const SIGNED_IN = { user: { sub: 'sub', oid: 'victim-oid', tid: 'tid' }, tokens: { access_token: 'entra-at', expires_in: 3600, refresh_token: 'entra-rt', id_token: 'x' } }

function setup (t: Test) {
  const store = new MemoryStore()
  t.teardown(() => store.close())
  const clock = { ms: 1_800_000_000_000 }
  const audits: Array<{ event: string, fields?: Record<string, unknown> }> = []
  const grants = createGrantStore({
    store,
    cipher: createTokenCipher(randomBytes(32)),
    config: { refreshTokenTtl: 3600, refreshReuseGrace: 0, consentTtl: 600, scopes: ['tools.read', 'tools.write'] },
    signAccessToken: async (grant, scope) => ({ accessToken: `at-${grant.sid}-${scope}`, jti: 'j', expiresIn: 900 }),
    denyGrant: async () => {},
    audit: (event, fields) => { audits.push({ event, fields }) },
    renewUpstream: async grant => grant,
    now: () => Math.floor(clock.ms / 1000),
    nowMs: () => clock.ms
  })
  const start = async (clientId = 'cli') => await grants.devices.start({ clientId, scopes: ['tools.read'], resource: 'http://x/mcp', requestIp: '203.0.113.7' })
  const poll = (deviceCode: string, clientId = 'cli') => grants.redeemDeviceCode({ deviceCode, clientId })
  const advance = (seconds: number) => { clock.ms += seconds * 1000 }
  return { store, grants, audits, start, poll, advance }
}

t.test('the device code is stored only as a hash, and the user code only as a hashed index', async t => {
  const { store, start } = setup(t)
  const { deviceCode, userCode } = await start()
  const dump = JSON.stringify([...(store as any).kinds.values()].flatMap((m: Map<string, unknown>) => [...m.entries()]))
  t.match(dump, /device:/, 'the dump holds the records')
  t.notOk(dump.includes(deviceCode), 'no device code in the store')
  t.notOk(dump.includes(userCode) || dump.includes(userCode.replace('-', '')), 'no user code in the store')
  t.ok(deviceCode.length >= 43, '256 bits')
})

t.test('polling: pending, then slow_down when faster than the interval, and the interval grows by 5 s each time', async t => {
  const { start, poll, advance } = setup(t)
  const { deviceCode, interval } = await start()
  t.equal(interval, DEVICE_POLL_INTERVAL)
  await t.rejects(poll(deviceCode), oauth('authorization_pending'), 'first poll')
  advance(interval)
  await t.rejects(poll(deviceCode), oauth('authorization_pending'), 'a poll after the interval')
  advance(1)
  await t.rejects(poll(deviceCode), oauth('slow_down', /wait at least 10 seconds/), 'too soon: 5 s more')
  advance(9)
  await t.rejects(poll(deviceCode), oauth('slow_down', /wait at least 15 seconds/), 'the old interval is not enough any more')
  advance(15)
  await t.rejects(poll(deviceCode), oauth('authorization_pending'), 'keeping the new interval is fine')
})

t.test('a user code typed any way finds its authorization; approval makes a grant that one poll gets, once', async t => {
  const { grants, start, poll, audits } = setup(t)
  const { deviceCode, userCode } = await start()
  const found = await grants.devices.findByUserCode(` ${userCode.toLowerCase().replace('-', ' ')} `)
  t.ok(found)
  t.match(found?.record, { clientId: 'cli', requestIp: '203.0.113.7', status: 'pending' })
  const approved = await grants.devices.approve(found!.id, SIGNED_IN)
  t.match(approved?.grant.user, { oid: 'victim-oid' })
  const results = await Promise.allSettled([poll(deviceCode), poll(deviceCode), poll(deviceCode)])
  const won = results.filter(r => r.status === 'fulfilled')
  t.equal(won.length, 1, 'two (three) pollers racing: tokens once')
  t.match((won[0] as PromiseFulfilledResult<any>).value, { grant: { sid: approved?.grant.sid }, scopes: ['tools.read'] })
  for (const r of results.filter(r => r.status === 'rejected')) t.match((r as PromiseRejectedResult).reason, oauth('invalid_grant'))
  await t.rejects(poll(deviceCode), oauth('invalid_grant'), 'and never again')
  t.equal(await grants.devices.findByUserCode(userCode), null, 'the user code is used up')
  t.notOk(audits.some(a => a.event === 'device.expired'))
})

t.test('a device code polled by another client is refused and does not spend it', async t => {
  const { grants, start, poll } = setup(t)
  const { deviceCode, userCode } = await start('cli')
  const found = await grants.devices.findByUserCode(userCode)
  await grants.devices.approve(found!.id, SIGNED_IN)
  await t.rejects(poll(deviceCode, 'attacker-client'), oauth('invalid_grant', /another client/))
  const own = await poll(deviceCode, 'cli')
  t.ok(own.grant.sid, 'its own client still redeems it')
})

t.test('only the first answer counts: after a denial, an approval makes no grant, and the client hears access_denied', async t => {
  const { grants, start, poll } = setup(t)
  const { deviceCode, userCode } = await start()
  const found = await grants.devices.findByUserCode(userCode)
  t.ok(await grants.devices.deny(found!.id))
  t.equal(await grants.devices.approve(found!.id, SIGNED_IN), null)
  t.equal(await grants.devices.deny(found!.id), null)
  await t.rejects(poll(deviceCode), oauth('access_denied'))
  t.equal(await grants.devices.findByUserCode(userCode), null)
})

t.test('concurrent approvals from two browsers: one grant', async t => {
  const { grants, start } = setup(t)
  const { userCode } = await start()
  const found = await grants.devices.findByUserCode(userCode)
  const answers = await Promise.all([grants.devices.approve(found!.id, SIGNED_IN), grants.devices.approve(found!.id, SIGNED_IN)])
  t.equal(answers.filter(a => a !== null).length, 1)
})

t.test('expiry: the user code stops working, the client hears expired_token (audited), a late approval makes nothing', async t => {
  const { grants, start, poll, advance, audits } = setup(t)
  const { deviceCode, userCode, expiresIn } = await start()
  t.equal(expiresIn, DEVICE_CODE_TTL)
  const found = await grants.devices.findByUserCode(userCode)
  advance(expiresIn)
  t.equal(await grants.devices.findByUserCode(userCode), null)
  t.equal(await grants.devices.approve(found!.id, SIGNED_IN), null)
  await t.rejects(poll(deviceCode), oauth('expired_token'))
  t.match(audits.find(a => a.event === 'device.expired'), { fields: { client_id: 'cli' } })
  await t.rejects(poll('Z'.repeat(43)), oauth('invalid_grant'), 'an unknown device code')
})
