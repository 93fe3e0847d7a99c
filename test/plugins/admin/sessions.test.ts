// The admin sessions model on the in-memory store, with a clock the test moves: ids never taken
// from the caller, lifetimes, single use of a sign-in; and the cookies' names and attributes.
import t from 'tap'
import { MemoryStore } from '../../../plugins/store/memory.ts'
import { AdminSessions, isAdminState } from '../../../plugins/admin/sessions.ts'
import { loginCookieName, loginCookieOptions, sessionCookieName, sessionCookieOptions } from '../../../plugins/admin/cookies.ts'

const USER = { oid: 'o', tid: 't', name: 'Grace', roles: ['Gateway.Admin'] }

function model (ttl = 1000, idle = 100) {
  const clock = { now: 1_000_000 }
  const store = new MemoryStore({ maxEntries: 1000 })
  t.teardown(() => store.close())
  return { clock, store, sessions: new AdminSessions({ store, ttl, idle, now: () => clock.now }) }
}

t.test('a session has a new random id, found by it (never by its hash), and ends when destroyed', async t => {
  const { sessions } = model()
  const a = await sessions.create(USER)
  const b = await sessions.create(USER)
  t.not(a.id, b.id)
  t.not(a.session.csrf, b.session.csrf)
  t.match(await sessions.read(a.id), { oid: 'o', csrf: a.session.csrf })
  for (const bad of [undefined, '', 'x', a.id.slice(1), `${a.id}x`, 42]) t.equal(await sessions.read(bad), null, String(bad))
  await sessions.destroy(a.id)
  t.equal(await sessions.read(a.id), null)
  t.ok(await sessions.read(b.id))
})

t.test('idle and absolute lifetimes, counted by the clock', async t => {
  const { clock, sessions } = model(250, 100)
  const { id } = await sessions.create(USER)
  clock.now += 99
  t.ok(await sessions.read(id), 'used within the idle time')
  clock.now += 99
  t.ok(await sessions.read(id), 'and again: each use starts the idle time again')
  clock.now += 50
  t.ok(await sessions.read(id), '248 s after sign-in')
  clock.now += 2
  t.equal(await sessions.read(id), null, 'at the absolute lifetime, however active')
  const idle = await sessions.create(USER)
  clock.now += 100
  t.equal(await sessions.read(idle.id), null, 'idle for the whole idle time')
})

t.test('a sign-in is taken once; its state names it and nothing else does', async t => {
  const { sessions } = model()
  const { state, login } = await sessions.startLogin('browser-hash', '/admin/grants')
  t.ok(isAdminState(state))
  t.notOk(isAdminState(state.slice(6)), 'without the marker it is an MCP transaction id shape')
  t.notOk(isAdminState(`${state}x`))
  t.match(await sessions.readLogin(state), { browser: 'browser-hash', returnTo: '/admin/grants', verifier: login.verifier })
  t.ok(await sessions.takeLogin(state))
  t.equal(await sessions.takeLogin(state), null)
  t.equal(await sessions.readLogin(state), null)
})

t.test('cookies: __Host- names, Secure, HttpOnly, Path=/, SameSite=Lax over https; plain names over http', async t => {
  t.equal(sessionCookieName('https://gw.example.com'), '__Host-emg_admin')
  t.equal(loginCookieName('https://gw.example.com'), '__Host-emg_admin_login')
  t.same(sessionCookieOptions('https://gw.example.com'), { path: '/', httpOnly: true, secure: true, sameSite: 'lax' })
  t.same(loginCookieOptions('https://gw.example.com'), { path: '/', httpOnly: true, secure: true, sameSite: 'lax', maxAge: 600 })
  t.equal(sessionCookieName('http://localhost:8000'), 'emg_admin')
  t.equal(sessionCookieOptions('http://localhost:8000').secure, false)
})
