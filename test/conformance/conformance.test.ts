import t from 'tap'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SUITES, runSuite, startTarget, type SuiteName } from './run.ts'
import { judge, readExpectedFailures, summary, type Check } from './judge.ts'
import { INSTALL_TIMEOUT_MS, ensureNode22Tools, node22ToolsInstalled } from '../support/node22-tools.ts'

// The first run on a fresh machine installs Node 22 and the suites (or waits for another test file
// to do it): give that run the install's time on top of its own (two suites, up to 4 min each).
t.setTimeout((node22ToolsInstalled() ? 0 : INSTALL_TIMEOUT_MS) + 300_000)

const ok = (id: string): Check => ({ id, status: 'SUCCESS' })
const REQUIRED = ['ping', 'tools-call-error']

t.test('the judge reads checks, not just the exit code', async t => {
  const all: Record<string, Check[]> = { ping: [ok('ping')], 'tools-call-error': [ok('tools-call-error')], 'prompts-list': [{ id: 'prompts-list', status: 'FAILURE' }] }
  const excuse = { scenario: 'prompts-list', reason: 'no prompts' }
  t.same(judge(all, [excuse], 0, REQUIRED), [], 'required pass, the excused scenario fails')
  t.match(judge({ ...all, 'tools-call-error': [{ id: 'tools-call-error', status: 'SUCCESS', details: { result: { content: [{ text: 'MCP error -32602: Tool test_error_handling not found' }], isError: true } } }] }, [excuse], 0, REQUIRED),
    ['tools-call-error: the call did not reach a tool ("not found")'], 'a pass on tool-not-found is refused')
  t.match(judge({ ...all, 'prompts-list': [ok('prompts-list')] }, [excuse], 0, REQUIRED), [/prompts-list: passes now/], 'a stale expected failure is reported')
  t.match(judge(all, [excuse, { scenario: 'resources-list', reason: 'none' }], 0, REQUIRED), [/resources-list: listed in .* but did not run/], 'an entry for a scenario that did not run is stale too')
  t.match(judge({ ...all, ping: [{ id: 'ping', status: 'WARNING', errorMessage: 'slow' }] }, [excuse], 0, REQUIRED), ['ping: ping WARNING (slow)'])
  t.match(judge({ ...all, ping: [ok('ping'), { id: 'ping-extra', status: 'SKIPPED' }] }, [excuse], 0, REQUIRED), ['ping: ping-extra SKIPPED'], 'a skipped check that is not excused is a problem')
  const { ping: _ping, ...withoutPing } = all
  t.match(judge(withoutPing, [excuse], 0, REQUIRED), ['ping: did not run'])
  t.match(judge({ ...all, ping: [] }, [excuse], 0, REQUIRED), ['ping: no checks'])
  t.match(judge(all, [excuse], 1, REQUIRED), [/exited with 1/])
})

t.test('a per-check entry excuses that check only, and goes stale when the check passes', async t => {
  const stateless = [ok('discover'), { id: 'list-changed', status: 'SKIPPED' }, { id: 'list-changed', status: 'SKIPPED' }]
  const excuse = { scenario: 'server-stateless', checkId: 'list-changed', reason: 'lists never change' }
  t.same(judge({ 'server-stateless': stateless }, [excuse], 0, ['server-stateless']), [], 'every check with the id is excused')
  t.match(judge({ 'server-stateless': [...stateless, { id: 'discover', status: 'FAILURE' }] }, [excuse], 0, []), [/server-stateless: discover FAILURE/], 'another check of the scenario still counts')
  t.match(judge({ 'server-stateless': [ok('discover'), ok('list-changed')] }, [excuse], 0, []), [/server-stateless:list-changed: passes now/])
  t.match(judge({ 'server-stateless': [ok('discover')] }, [excuse], 0, []), [/server-stateless:list-changed: listed in .* but did not run/])
  const text = summary({ label: 'x', scenarios: { 'server-stateless': stateless }, excuses: [excuse], problems: [] })
  t.match(text, /pass {4}server-stateless \(1 SUCCESS, 2 SKIPPED; 2 excused\)/)
  t.match(text, /^conformance suite x: 1 of 1 applicable scenarios passed \(2 checks excused\), 0 pending, 0 failed, 0 not applicable, 0 problems$/m)
})

t.test('the summary counts PENDING entries as applicable scenarios not passed yet, apart from the ones that do not apply', async t => {
  const scenarios: Record<string, Check[]> = {
    ping: [ok('ping')],
    'completion-complete': [{ id: 'completion-complete', status: 'FAILURE' }],
    'input-required-result-basic-elicitation': [{ id: 'mrtr', status: 'FAILURE' }],
    'server-stateless': [ok('discover'), { id: 'missing-capability', status: 'FAILURE' }]
  }
  const excuses = [
    { scenario: 'completion-complete', reason: 'no completions' },
    { scenario: 'input-required-result-basic-elicitation', reason: 'PENDING: tools cannot return input-required results yet' },
    { scenario: 'server-stateless', checkId: 'missing-capability', reason: 'PENDING: as above' }
  ]
  t.same(judge(scenarios, excuses, 0, []), [], 'pending entries excuse like any other')
  const text = summary({ label: 'x', scenarios, excuses, problems: [] })
  t.match(text, /pending input-required-result-basic-elicitation/)
  t.match(text, /pending server-stateless \(1 SUCCESS, 1 FAILURE; 1 excused\)/)
  t.match(text, /n\/a {5}completion-complete/)
  t.match(text, /^conformance suite x: 1 of 3 applicable scenarios passed \(1 checks excused\), 2 pending, 0 failed, 1 not applicable, 0 problems$/m)
})

t.test('an expected-failures file is read with the reason of every entry', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'expected-failures-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'x.yml')
  writeFileSync(file, '# header\nserver:\n  - logging-set-level   # no logging\n  - server-stateless:sep-2575-x  # lists never change\n  - bare\n')
  t.same(readExpectedFailures(file), [
    { scenario: 'logging-set-level', reason: 'no logging' },
    { scenario: 'server-stateless', checkId: 'sep-2575-x', reason: 'lists never change' },
    { scenario: 'bare', reason: '' }
  ])
})

for (const [name, suite] of Object.entries(SUITES)) {
  t.test(`expected-failures-${name}.yml gives a reason for every entry and never excuses a required scenario`, async t => {
    const excuses = readExpectedFailures(suite.expectedFailures)
    t.ok(excuses.length > 0)
    for (const e of excuses) t.ok(e.reason.length >= 10, `${e.scenario}${e.checkId !== undefined ? `:${e.checkId}` : ''} has a reason`)
    for (const required of suite.required) t.notOk(excuses.some(e => e.scenario === required && e.checkId === undefined), `${required} is required, not excused`)
  })
}

t.test('both conformance suites\' server scenarios pass against the service (Node 22, through an Authorization-adding proxy)', async t => {
  await ensureNode22Tools(line => t.comment(line))
  const { url } = await startTarget(t)
  for (const name of Object.keys(SUITES) as SuiteName[]) {
    await t.test(`suite ${SUITES[name].label}`, async t => {
      const report = await runSuite(name, url)
      t.comment(summary(report))
      t.same(report.problems, [], 'no problems')
      for (const required of SUITES[name].required) t.ok(report.scenarios[required]?.length, `${required} ran`)
    })
  }
})
