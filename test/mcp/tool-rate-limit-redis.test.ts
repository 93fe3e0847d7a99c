// Per-tool limits are counted in Redis, so instances sharing it share each user's budget.
import t from 'tap'
import * as z from 'zod'
import { build, redisEnv, requireRedis } from '../helper.ts'
import { defineTool } from '../../mcp/registry.ts'
import { MCP_HEADERS, SIGNING_KEY_PEM, callTool, mintToken } from './mcp-helper.ts'

const limited = defineTool({
  name: 'limited',
  title: 'Limited',
  description: 'Two calls a minute (test tool).',
  inputSchema: z.object({}),
  scopes: ['tools.read'],
  rateLimit: { max: 2, windowSeconds: 60 },
  handler: () => ({ ok: true })
})

t.test('two instances on one Redis share a user\'s per-tool budget', async t => {
  await requireRedis()
  const env = { ...redisEnv(), TOKEN_SIGNING_KEY: SIGNING_KEY_PEM }
  const a = await build(t, env, { app: { mcp: { extraTools: [limited] } } })
  const b = await build(t, env, { app: { mcp: { extraTools: [limited] } } })
  const token = mintToken('http://localhost:8000', 'tools.read')
  const call = async (app: typeof a) => (await app.inject({ method: 'POST', url: '/mcp', headers: { ...MCP_HEADERS, authorization: `Bearer ${token}` }, payload: callTool(1, 'limited') })).json().result
  t.notOk((await call(a)).isError)
  t.notOk((await call(b)).isError)
  const third = await call(a)
  t.equal(third.isError, true, 'the third call, on either instance, is refused')
  t.match(third.content[0].text, /Rate limit for limited reached/)
  t.equal((await call(b)).isError, true)
})
