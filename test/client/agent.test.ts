import { test } from 'tap'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { buildListening } from '../helper.ts'
import { parseSigningKeys } from '../../config/keys.ts'
import { createTokenSigner } from '../../plugins/jwt-verify/signing-keys.ts'
import { startFakeOpenAI, FAKE_OPENAI_KEY } from '../support/fake-openai.ts'
import { startFakeAnthropic, FAKE_ANTHROPIC_KEY } from '../support/fake-anthropic.ts'
import { auditEvents, inCheckout, runCli, seedCache, tempConfigHome } from '../support/cli.ts'

const OID = '0a1b2c3d-0000-4000-8000-00000000abcd'
const SIGNING_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()

/**
 * A listening service and a credentials cache holding a token the service issued (its own signer:
 * a real token, checked by the real /mcp), so the agent tests need no browser sign-in.
 */
async function signedInService (t: { teardown: (fn: () => unknown) => void }, scope = 'tools.read') {
  const logs: string[] = []
  const { app, baseUrl } = await buildListening(t, { TOKEN_SIGNING_KEY: SIGNING_KEY }, { logs })
  // The service's signer with the service's key: the token /mcp would get from /token.
  const signer = createTokenSigner(parseSigningKeys(SIGNING_KEY), { issuer: baseUrl, audience: `${baseUrl}/mcp`, ttlSeconds: 900, source: 'configured' })
  const issued = signer.issueAccessToken({
    sub: 'agent-user',
    oid: OID,
    tid: '72f988bf-0000-4000-8000-000000000001',
    name: 'Agent Tester',
    preferred_username: 'agent@contoso.example',
    client_id: 'cli-test',
    scope,
    sid: `grant-${randomUUID()}`
  })
  const xdg = await tempConfigHome(t)
  const server = `${baseUrl}/mcp`
  await seedCache(xdg, server, {
    issuer: baseUrl,
    tokens: { access_token: issued.accessToken, token_type: 'Bearer', expires_in: issued.expiresIn, scope },
    expiresAt: Date.now() + issued.expiresIn * 1000,
    scope
  })
  return { app, logs, xdg, server, token: issued.accessToken }
}

test('openai agent: the model calls whoami, the tool runs through MCP with the cached token, the result goes back to the model', async (t) => {
  const { logs, xdg, server, token } = await signedInService(t)
  const model = await startFakeOpenAI()
  t.teardown(model.close)
  const env = { XDG_CONFIG_HOME: xdg, OPENAI_API_KEY: FAKE_OPENAI_KEY, OPENAI_BASE_URL: model.baseURL }
  const res = await runCli(['agent', '--provider', 'openai', '--server', server, '--model', 'gpt-test', 'Who am I?'], { env })
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /→ tool call: whoami\(\{\}\)/)
  t.match(res.stdout, /Final answer\. The tool said: .*0a1b2c3d-0000-4000-8000-00000000abcd/)

  t.equal(model.requests.length, 2, 'two model turns: tool call, then final answer')
  const first = model.requests[0].body
  t.equal(first.model, 'gpt-test')
  t.same(first.tools.map((x: any) => x.function.name).sort(), ['validate_token', 'whoami'], 'only the tools the token may call (graph_me needs graph.read)')
  t.equal(first.tools[0].type, 'function')
  const second = model.requests[1].body
  const toolMessage = second.messages.find((m: any) => m.role === 'tool')
  t.ok(toolMessage, 'the second turn carries the tool result')
  t.match(toolMessage.content, OID, 'the tool result holds the oid of the token the CLI sent')
  t.equal(toolMessage.tool_call_id, 'call_1')
  t.notMatch(JSON.stringify(model.requests), token, 'the MCP token never reaches the model')

  const called = auditEvents(logs, 'tool.called')
  t.equal(called.length, 1, 'the server saw exactly one tool call')
  t.equal(called[0].tool, 'whoami')
  t.equal(called[0].outcome, 'success')
})

test('anthropic agent: tool_use -> MCP call -> tool_result -> final answer', async (t) => {
  const { logs, xdg, server, token } = await signedInService(t)
  const model = await startFakeAnthropic()
  t.teardown(model.close)
  const env = { XDG_CONFIG_HOME: xdg, ANTHROPIC_API_KEY: FAKE_ANTHROPIC_KEY, ANTHROPIC_BASE_URL: model.baseURL }
  const res = await runCli(['agent', '--provider', 'anthropic', '--server', server, '--json', 'Who am I?'], { env })
  t.equal(res.code, 0, res.stderr)
  const out = JSON.parse(res.stdout)
  t.equal(out.provider, 'anthropic')
  t.same(out.toolCalls, [{ name: 'whoami', arguments: {}, isError: false }])
  t.match(out.answer, OID)
  t.equal(out.rounds, 2)

  t.equal(model.requests.length, 2)
  const first = model.requests[0].body
  t.same(first.tools.map((x: any) => x.name).sort(), ['validate_token', 'whoami'])
  t.ok(first.tools.every((x: any) => x.input_schema?.type === 'object'), 'input_schema is a JSON Schema object')
  const second = model.requests[1].body
  const lastTurn = second.messages[second.messages.length - 1]
  t.equal(lastTurn.role, 'user')
  t.equal(lastTurn.content[0].type, 'tool_result')
  t.equal(lastTurn.content[0].tool_use_id, 'toolu_1')
  t.match(lastTurn.content[0].content, OID)
  t.equal(second.messages[1].role, 'assistant', 'the assistant turn with tool_use is replayed')
  t.notMatch(JSON.stringify(model.requests), token)

  const called = auditEvents(logs, 'tool.called')
  t.equal(called.length, 1)
  t.equal(called[0].tool, 'whoami')
})

test('agent: the tool rounds are bounded by --max-rounds', async (t) => {
  const { xdg, server, logs } = await signedInService(t)
  const model = await startFakeOpenAI({ alwaysCallTool: true })
  t.teardown(model.close)
  const env = { XDG_CONFIG_HOME: xdg, OPENAI_API_KEY: FAKE_OPENAI_KEY, OPENAI_BASE_URL: model.baseURL }
  const res = await runCli(['agent', '--provider', 'openai', '--server', server, '--max-rounds', '2', 'loop'], { env })
  t.equal(res.code, 1)
  t.match(res.stderr, /still asked for tools after 2 rounds/)
  t.equal(auditEvents(logs, 'tool.called').length, 2, 'two rounds of tool calls, then stop')
  t.equal(model.requests.length, 3, 'a last turn without tools, then give up')
  t.equal(model.requests[2].body.tool_choice, 'none')
})

test('the README\'s way to try the agent with no model account: npm run model:stand-in, then the command it prints', async (t) => {
  const { xdg, server } = await signedInService(t)
  for (const provider of ['openai', 'anthropic']) {
    const standIn = inCheckout(`npm run -s model:stand-in -- ${provider}`, xdg)
    t.teardown(standIn.stop)
    let printed = ''
    const command = await new Promise<string>((resolve, reject) => {
      standIn.child.stdout?.on('data', d => {
        printed += d
        const line = printed.split('\n').find(l => l.includes('npm run -s client -- agent'))
        if (line !== undefined) resolve(line)
      })
      standIn.done.then(r => reject(new Error(`the stand-in exited: ${r.stderr}`)), reject)
    })
    t.match(command, new RegExp(`^${provider.toUpperCase()}_API_KEY=\\S+ ${provider.toUpperCase()}_BASE_URL=http://127\\.0\\.0\\.1:\\d+\\S* npm run -s client -- agent --provider ${provider} "Who am I\\?"$`))
    const res = await inCheckout(`${command} --server ${server}`, xdg).done
    t.equal(res.code, 0, res.stderr)
    t.match(res.stdout, /→ tool call: whoami/, `${provider}: the stand-in model called a tool through MCP`)
    t.match(res.stdout, OID, 'and answered with its result')
    standIn.stop()
  }
})

test('agent: an unknown provider is named as such, with the ones there are', async (t) => {
  const res = await runCli(['agent', '--provider', 'gemini', 'hi'], { env: { XDG_CONFIG_HOME: await tempConfigHome(t) } })
  t.equal(res.code, 2)
  t.match(res.stderr, 'Unknown provider "gemini": choose openai or anthropic')
})

test('agent: a clear message and no network when the API key is missing', async (t) => {
  const xdg = await tempConfigHome(t)
  for (const [provider, variable] of [['openai', 'OPENAI_API_KEY'], ['anthropic', 'ANTHROPIC_API_KEY']]) {
    const res = await runCli(['agent', '--provider', provider, '--server', 'http://127.0.0.1:9/mcp', 'hi'], { env: { XDG_CONFIG_HOME: xdg } })
    t.equal(res.code, 2)
    t.match(res.stderr, `${variable} is not set`)
    t.notMatch(res.stderr, /\n\s+at /, 'no stack trace')
  }
})

test('agent: a wrong API key is reported as the model API refusing, not as a crash', async (t) => {
  const { xdg, server } = await signedInService(t)
  const model = await startFakeOpenAI()
  t.teardown(model.close)
  const res = await runCli(['agent', '--provider', 'openai', '--server', server, 'hi'], { env: { XDG_CONFIG_HOME: xdg, OPENAI_API_KEY: 'wrong', OPENAI_BASE_URL: model.baseURL } })
  t.equal(res.code, 1)
  t.match(res.stderr, /openai API at .* failed \(HTTP 401\)/)
})

test('agent: without a cached sign-in it says so', async (t) => {
  const xdg = await tempConfigHome(t)
  const res = await runCli(['agent', '--provider', 'anthropic', '--server', 'http://127.0.0.1:9/mcp', 'hi'], { env: { XDG_CONFIG_HOME: xdg, ANTHROPIC_API_KEY: 'x' } })
  t.equal(res.code, 3)
  t.match(res.stderr, /Not logged in/)
})
