// The requestState codec of input-required results (mcp/input-required.ts) on its own: which key
// it uses (derived from TOKEN_ENCRYPTION_KEY, or random per process) and what it binds to.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createRequestStateCodec, type ServerContext } from '@modelcontextprotocol/server'
import { createStateCodec } from '../../mcp/input-required.ts'
import { deriveKey } from '../../plugins/oauth-proxy/grants/token-crypto.ts'
import type { Identity } from '../../plugins/jwt-verify/identity.ts'

const ada: Identity = { kind: 'self', sub: 'user-1', oid: 'oid-ada', tid: 'tenant-1', scopes: [], roles: [], expiresAt: 0 }

/**
 * A handler context as the SDK gives it (the method, the web request with its Mcp-Name header),
 * carrying the caller that `callerOf` reads (the app reads it from the modern leg's lending).
 */
function withCaller (caller: Identity | undefined, tool = 'revoke_my_sign_in', method = 'tools/call'): ServerContext {
  const req = new Request('http://mcp.invalid/mcp', { method: 'POST', headers: { 'mcp-name': tool } })
  return { mcpReq: { method }, http: { req }, caller } as unknown as ServerContext
}
const callerOf = (ctx: ServerContext) => (ctx as unknown as { caller?: Identity }).caller

t.test('instances sharing TOKEN_ENCRYPTION_KEY accept each other\'s state; another key refuses it', async t => {
  const master = randomBytes(32)
  const state = await createStateCodec(master, callerOf).mint({ tool: 'revoke_my_sign_in', data: { asked: true } }, withCaller(ada))
  t.same(await createStateCodec(master, callerOf).verify(state, withCaller(ada)), { tool: 'revoke_my_sign_in', data: { asked: true } })
  await t.rejects(createStateCodec(randomBytes(32), callerOf).verify(state, withCaller(ada)), { message: 'mac' })
})

t.test('the key is derived for this purpose only: state signed with the raw key or the consent-cookie key is refused', async t => {
  const master = randomBytes(32)
  const codec = createStateCodec(master, callerOf)
  for (const other of [master, deriveKey(master, 'consent-cookie')]) {
    const forged = await createRequestStateCodec({ key: other }).mint({ tool: 'revoke_my_sign_in', data: { asked: true } })
    await t.rejects(codec.verify(forged, withCaller(ada)), { message: 'mac' })
  }
  const ours = await createRequestStateCodec({ key: deriveKey(master, 'mcp-request-state') }).mint({ tool: 'revoke_my_sign_in', data: null })
  await t.rejects(codec.verify(ours, withCaller(ada)), { message: 'bind' }, 'the right key but no binding: still refused')
})

t.test('without TOKEN_ENCRYPTION_KEY each process has its own random key', async t => {
  const state = await createStateCodec(null, callerOf).mint({ tool: 'x', data: 1 }, withCaller(ada))
  await t.rejects(createStateCodec(null, callerOf).verify(state, withCaller(ada)), { message: 'mac' })
})

t.test('bound to caller (tid:oid, else sub), method and tool name; no caller, no state', async t => {
  const codec = createStateCodec(randomBytes(32), callerOf)
  const state = await codec.mint({ tool: 'revoke_my_sign_in', data: null }, withCaller(ada))
  await t.rejects(codec.verify(state, withCaller({ ...ada, oid: 'oid-eve' })), { message: 'bind' })
  await t.rejects(codec.verify(state, withCaller({ ...ada, tid: 'tenant-2' })), { message: 'bind' })
  await t.rejects(codec.verify(state, withCaller(ada, 'whoami')), { message: 'bind' })
  await t.rejects(codec.verify(state, withCaller(ada, 'revoke_my_sign_in', 'prompts/get')), { message: 'bind' })
  await t.rejects(codec.verify(state, withCaller(undefined)), { message: 'no caller' })
  await t.rejects(codec.mint({ tool: 'x', data: null }, withCaller(undefined)), { message: 'no caller' })

  const noOid: Identity = { ...ada, oid: undefined, sub: 'app-1' }
  const appState = await codec.mint({ tool: 'revoke_my_sign_in', data: null }, withCaller(noOid))
  t.ok(await codec.verify(appState, withCaller(noOid)))
  await t.rejects(codec.verify(appState, withCaller({ ...noOid, sub: 'app-2' })), { message: 'bind' })
})
