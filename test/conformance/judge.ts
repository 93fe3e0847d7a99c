// Judges a conformance run from the checks.json files it wrote, against a per-suite
// expected-failures file. Pure functions: test/conformance/conformance.test.ts tests them on
// hand-made checks, run.ts applies them to real runs.
import { readFileSync } from 'node:fs'

export interface Check { id: string, status: string, errorMessage?: string, details?: unknown }

/**
 * One line of an expected-failures file: `- <scenario>  # reason` excuses a whole scenario,
 * `- <scenario>:<check-id>  # reason` every check with that id in that scenario (the 0.2 CLI
 * reads the same syntax; 0.1.16 knows only whole scenarios). A reason starting with `PENDING`
 * marks a scenario that applies to this server but is not built yet: the summary counts it as
 * pending, not as not applicable.
 */
export interface Excuse { scenario: string, checkId?: string, reason: string }

export const isPending = (e: Excuse): boolean => /^PENDING\b/.test(e.reason)

/** Reads the `server:` list of an expected-failures file, with the comment after each entry as its reason. */
export function readExpectedFailures (file: string): Excuse[] {
  return readFileSync(file, 'utf8').split('\n').flatMap(line => {
    const m = /^\s*-\s*([\w.-]+)(?::([\w.-]+))?\s*(?:#\s*(.*))?$/.exec(line)
    if (m === null) return []
    return [{ scenario: m[1], ...(m[2] !== undefined ? { checkId: m[2] } : {}), reason: (m[3] ?? '').trim() }]
  })
}

export const excuseName = (e: Excuse): string => e.checkId === undefined ? e.scenario : `${e.scenario}:${e.checkId}`

const passed = (checks: Check[]): boolean => checks.length > 0 && checks.every(c => c.status === 'SUCCESS')
const describe = (c: Check): string => `${c.id} ${c.status}${c.errorMessage !== undefined && c.errorMessage !== '' ? ` (${c.errorMessage})` : ''}`

/** The checks of one scenario that are neither SUCCESS nor excused by a per-check entry. */
function unexcused (checks: Check[], excusedIds: Set<string>): Check[] {
  return checks.filter(c => c.status !== 'SUCCESS' && !excusedIds.has(c.id))
}

/** Entries that no longer excuse anything: the scenario or check passes now, or never ran. */
function staleEntries (scenarios: Record<string, Check[]>, excuses: Excuse[], file: string): string[] {
  const problems: string[] = []
  for (const e of excuses) {
    const checks = scenarios[e.scenario]
    const mine = e.checkId === undefined ? checks : checks?.filter(c => c.id === e.checkId)
    if (mine === undefined || mine.length === 0) problems.push(`${excuseName(e)}: listed in ${file} but did not run`)
    else if (passed(mine)) problems.push(`${excuseName(e)}: passes now; remove it from ${file}`)
  }
  return problems
}

/** What is wrong with a run, judged from checks.json rather than the exit code alone. */
export function judge (scenarios: Record<string, Check[]>, excuses: Excuse[], exitCode: number | null, required: string[], file = 'expected-failures'): string[] {
  const problems: string[] = []
  const whole = new Set(excuses.filter(e => e.checkId === undefined).map(e => e.scenario))
  for (const name of required) if (scenarios[name] === undefined) problems.push(`${name}: did not run`)
  for (const [name, checks] of Object.entries(scenarios)) {
    if (whole.has(name)) continue
    const excusedIds = new Set(excuses.filter(e => e.scenario === name && e.checkId !== undefined).map(e => e.checkId as string))
    const bad = unexcused(checks, excusedIds)
    if (checks.length === 0) problems.push(`${name}: no checks`)
    else if (bad.length > 0) problems.push(`${name}: ${bad.map(describe).join('; ')}`)
    // A tool-call scenario can "pass" on an error result; make sure the call reached a tool.
    if (name.startsWith('tools-call') && /Tool [\w-]+ not found/.test(JSON.stringify(checks))) problems.push(`${name}: the call did not reach a tool ("not found")`)
  }
  problems.push(...staleEntries(scenarios, excuses, file))
  if (exitCode !== 0) problems.push(`the conformance CLI exited with ${String(exitCode)}`)
  return problems
}

export interface SuiteResult {
  /** e.g. "2026-07-28 (0.2.0-alpha.12)" */
  label: string
  scenarios: Record<string, Check[]>
  excuses: Excuse[]
  problems: string[]
}

function countStatuses (checks: Check[]): string {
  const counts = new Map<string, number>()
  for (const c of checks) counts.set(c.status, (counts.get(c.status) ?? 0) + 1)
  return [...counts].map(([status, n]) => `${n} ${status}`).join(', ')
}

type Verdict = 'pass' | 'FAIL' | 'n/a' | 'pending' | 'STALE'

/** How one scenario counts in the summary. */
function verdict (name: string, checks: Check[], excuses: Excuse[]): { verdict: Verdict, excused: number } {
  const mine = excuses.filter(e => e.scenario === name)
  const whole = mine.find(e => e.checkId === undefined)
  if (whole !== undefined) return { verdict: passed(checks) ? 'STALE' : isPending(whole) ? 'pending' : 'n/a', excused: 0 }
  const ids = new Set(mine.map(e => e.checkId as string))
  const excusedChecks = checks.filter(c => c.status !== 'SUCCESS' && ids.has(c.id))
  if (checks.length === 0 || unexcused(checks, ids).length > 0) return { verdict: 'FAIL', excused: excusedChecks.length }
  const pendingIds = new Set(mine.filter(isPending).map(e => e.checkId))
  return { verdict: excusedChecks.some(c => pendingIds.has(c.id)) ? 'pending' : 'pass', excused: excusedChecks.length }
}

/** One line per scenario, then the suite's summary line, then its problems. */
export function summary (r: SuiteResult): string {
  const names = Object.keys(r.scenarios).sort()
  const tally: Record<Verdict, number> = { pass: 0, FAIL: 0, 'n/a': 0, pending: 0, STALE: 0 }
  let excusedChecks = 0
  const lines = names.map(name => {
    const checks = r.scenarios[name]
    const v = verdict(name, checks, r.excuses)
    tally[v.verdict]++
    excusedChecks += v.excused
    return `  ${v.verdict.padEnd(7)} ${name} (${countStatuses(checks)}${v.excused > 0 ? `; ${v.excused} excused` : ''})`
  })
  const applicable = names.length - tally['n/a'] - tally.STALE
  const line = `conformance suite ${r.label}: ${tally.pass} of ${applicable} applicable scenarios passed (${excusedChecks} checks excused),` +
    ` ${tally.pending} pending, ${tally.FAIL} failed, ${tally['n/a']} not applicable, ${r.problems.length} problems`
  return [...lines, line, ...r.problems.map(p => `  problem: ${p}`)].join('\n')
}
