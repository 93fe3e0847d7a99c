// Per-tool limits are counted in Redis, so instances sharing it share each user's budget.
import t from 'tap'
import { build, redisEnv, requireRedis } from '../helper.ts'
import { SIGNING_KEY_PEM, callTool, injectMcp, limitedTool as limited, mintToken } from '../support/mcp.ts'

t.test('two instances on one Redis share a user\'s per-tool budget', async t => {
  await requireRedis()
  const env = { ...redisEnv(), TOKEN_SIGNING_KEY: SIGNING_KEY_PEM }
  const a = await build(t, env, { app: { mcp: { extraTools: [limited] } } })
  const b = await build(t, env, { app: { mcp: { extraTools: [limited] } } })
  const token = mintToken('http://localhost:8000', 'tools.read')
  const call = async (app: typeof a) => (await injectMcp(app, token, callTool(1, 'limited'))).json().result
  t.notOk((await call(a)).isError)
  t.notOk((await call(b)).isError)
  const third = await call(a)
  t.equal(third.isError, true, 'the third call, on either instance, is refused')
  t.match(third.content[0].text, /Rate limit for limited reached/)
  t.equal((await call(b)).isError, true)
})
