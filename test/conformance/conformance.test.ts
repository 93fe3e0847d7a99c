import t from 'tap'
import { REQUIRED, judge, readExpectedFailures, runSuite, startTarget, summary, type Check } from './run.ts'
import { INSTALL_TIMEOUT_MS, ensureNode22Tools, node22ToolsInstalled } from '../support/node22-tools.ts'

// The first run on a fresh machine installs Node 22 and the suite (or waits for another test file
// to do it): give that run the install's time on top of its own.
if (!node22ToolsInstalled()) t.setTimeout(INSTALL_TIMEOUT_MS + 120_000)

const ok = (id: string): Check => ({ id, status: 'SUCCESS' })

t.test('the judge reads checks, not just the exit code', async t => {
  const all = Object.fromEntries(REQUIRED.map(name => [name, [ok(name)]]))
  t.same(judge(all, ['prompts-list'], 0), [], 'all required pass')
  t.match(judge({ ...all, 'tools-call-error': [{ id: 'tools-call-error', status: 'SUCCESS', details: { result: { content: [{ text: 'MCP error -32602: Tool test_error_handling not found' }], isError: true } } }] }, [], 0),
    ['tools-call-error: the call did not reach a tool ("not found")'], 'a pass on tool-not-found is refused')
  t.match(judge({ ...all, 'prompts-list': [ok('prompts-list')] }, ['prompts-list'], 0), [/prompts-list: passes now/], 'a stale expected failure is reported')
  t.match(judge({ ...all, ping: [{ id: 'ping', status: 'WARNING' }] }, [], 0), [/ping: ping WARNING/])
  const { ping: _ping, ...withoutPing } = all
  t.match(judge(withoutPing, [], 0), ['ping: did not run'])
  t.match(judge(all, [], 1), [/exited with 1/])
})

t.test('expected-failures.yml gives a reason for every scenario it lists', async t => {
  const names = readExpectedFailures()
  t.ok(names.length > 0)
  for (const name of REQUIRED) t.notOk(names.includes(name), `${name} is required, not excused`)
})

t.test('the conformance suite\'s server scenarios pass against the service (Node 22, through an Authorization-adding proxy)', async t => {
  await ensureNode22Tools(line => t.comment(line))
  const { url } = await startTarget(t)
  const report = await runSuite(url)
  t.comment(summary(report))
  t.same(report.problems, [], 'no problems')
  for (const name of REQUIRED) t.ok(report.scenarios[name]?.every(c => c.status === 'SUCCESS'), `${name} passes`)
})
