// Runs the server scenarios of @modelcontextprotocol/conformance against this service.
//
//   npm run test:conformance        (also run by test/conformance/conformance.test.ts)
//
// The suite needs Node >= 22 and has no option to send a header, so:
// - Node 22 and the suite are installed into .tools/conformance (git-ignored) on first use, by
//   test/support/node22-tools.ts (with the MCP Inspector: one install, under a lock);
// - the service listens on a loopback port with the suite's reference tools added
//   (fixture-tools.ts), behind a loopback proxy that adds `Authorization: Bearer <valid token>`;
// - the CLI runs every active server scenario with expected-failures.yml (one reason per line);
// - then each scenario's checks.json is read: every scenario not listed must have only SUCCESS
//   checks, tool calls must have reached a real tool (not "Tool ... not found"), and a listed
//   scenario that passes is reported as stale.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { buildListening } from '../helper.ts'
import { NODE22 as NODE, TOOLS_DIR as TOOLS, ensureNode22Tools, toolPath } from '../support/node22-tools.ts'
import { SIGNING_KEY_PEM, mintToken } from '../support/mcp.ts'
import { fixtureTools } from './fixture-tools.ts'

const HERE = dirname(fileURLToPath(import.meta.url))
const CLI = toolPath('@modelcontextprotocol/conformance', 'dist', 'index.js')
const EXPECTED_FAILURES = join(HERE, 'expected-failures.yml')
/** Scenarios this server must pass for real (a missing one is a failure too). */
export const REQUIRED = [
  'server-initialize', 'ping', 'tools-list', 'tools-call-simple-text', 'tools-call-image', 'tools-call-audio',
  'tools-call-embedded-resource', 'tools-call-mixed-content', 'tools-call-error', 'dns-rebinding-protection'
]

type Teardown = { teardown: (fn: () => unknown) => void }

/** The service with the fixture tools, behind a loopback proxy that adds a valid bearer token. */
export async function startTarget (t: Teardown): Promise<{ url: string }> {
  const proxy: Server = createServer()
  await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => {
    proxy.closeAllConnections()
    proxy.close(() => resolve())
  }))
  const proxyPort = (proxy.address() as AddressInfo).port
  const { baseUrl, port } = await buildListening(t, {
    TOKEN_SIGNING_KEY: SIGNING_KEY_PEM,
    // Browsers would reach it through the proxy's origin (dns-rebinding-protection's valid case).
    MCP_ALLOWED_ORIGINS: `http://127.0.0.1:${proxyPort} http://localhost:${proxyPort}`
  }, { app: { mcp: { extraTools: fixtureTools } } })
  const token = mintToken(baseUrl, 'tools.read')
  proxy.on('request', (req, res) => {
    const headers = { ...req.headers, authorization: `Bearer ${token}` }
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers }, upstreamRes => {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers)
      upstreamRes.pipe(res)
    })
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502)
      res.end()
    })
    req.pipe(upstream)
  })
  return { url: `http://127.0.0.1:${proxyPort}/mcp` }
}

export interface Check { id: string, status: string, errorMessage?: string, details?: unknown }
export interface ConformanceReport {
  exitCode: number | null
  output: string
  scenarios: Record<string, Check[]>
  expectedFailures: string[]
  /** Empty when the run is good. */
  problems: string[]
}

export function readExpectedFailures (file = EXPECTED_FAILURES): string[] {
  return readFileSync(file, 'utf8').split('\n')
    .map(line => /^\s*-\s*([\w.-]+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined)
}

/** Reads `<out>/server-<scenario>-<timestamp>/checks.json` for every scenario that ran. */
function readChecks (outDir: string): Record<string, Check[]> {
  const scenarios: Record<string, Check[]> = {}
  for (const dir of readdirSync(outDir)) {
    const name = /^server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z$/.exec(dir)?.[1]
    if (name === undefined || !existsSync(join(outDir, dir, 'checks.json'))) continue
    scenarios[name] = JSON.parse(readFileSync(join(outDir, dir, 'checks.json'), 'utf8'))
  }
  return scenarios
}

/** What is wrong with a run, judged from checks.json rather than the exit code alone. */
export function judge (scenarios: Record<string, Check[]>, expectedFailures: string[], exitCode: number | null): string[] {
  const problems: string[] = []
  const expected = new Set(expectedFailures)
  for (const name of REQUIRED) if (scenarios[name] === undefined) problems.push(`${name}: did not run`)
  for (const [name, checks] of Object.entries(scenarios)) {
    const passed = checks.length > 0 && checks.every(c => c.status === 'SUCCESS')
    if (expected.has(name)) {
      if (passed) problems.push(`${name}: passes now; remove it from expected-failures.yml`)
      continue
    }
    if (!passed) {
      const bad = checks.filter(c => c.status !== 'SUCCESS').map(c => `${c.id} ${c.status}${c.errorMessage !== undefined ? ` (${c.errorMessage})` : ''}`)
      problems.push(`${name}: ${bad.length > 0 ? bad.join('; ') : 'no checks'}`)
    }
    // A tool-call scenario can "pass" on an error result; make sure the call reached a tool.
    if (name.startsWith('tools-call') && /Tool [\w-]+ not found/.test(JSON.stringify(checks))) problems.push(`${name}: the call did not reach a tool ("not found")`)
  }
  if (exitCode !== 0) problems.push(`the conformance CLI exited with ${String(exitCode)}`)
  return problems
}

/** Runs the CLI (Node 22) against `url` and judges the result. */
export async function runSuite (url: string): Promise<ConformanceReport> {
  const outDir = mkdtempSync(join(tmpdir(), 'mcp-conformance-'))
  try {
    const child = spawn(NODE, [CLI, 'server', '--url', url, '--expected-failures', EXPECTED_FAILURES, '-o', outDir], { cwd: TOOLS, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', chunk => { output += chunk })
    child.stderr.on('data', chunk => { output += chunk })
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000)
    const exitCode = await new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
    clearTimeout(timer)
    const scenarios = readChecks(outDir)
    const expectedFailures = readExpectedFailures()
    return { exitCode, output, scenarios, expectedFailures, problems: judge(scenarios, expectedFailures, exitCode) }
  } finally {
    rmSync(outDir, { recursive: true, force: true })
  }
}

export function summary (report: ConformanceReport): string {
  const lines = Object.entries(report.scenarios).sort(([a], [b]) => a.localeCompare(b)).map(([name, checks]) => {
    const ok = checks.length > 0 && checks.every(c => c.status === 'SUCCESS')
    const mark = report.expectedFailures.includes(name) ? (ok ? 'STALE' : 'n/a ') : (ok ? 'pass ' : 'FAIL ')
    return `  ${mark} ${name} (${checks.map(c => c.status).join(', ')})`
  })
  const passed = Object.entries(report.scenarios).filter(([name, checks]) => !report.expectedFailures.includes(name) && checks.every(c => c.status === 'SUCCESS')).length
  return [...lines, `${passed} scenarios passed, ${report.expectedFailures.length} not applicable, ${report.problems.length} problems`, ...report.problems.map(p => `  problem: ${p}`)].join('\n')
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const teardowns: Array<() => unknown> = []
  let code = 1
  try {
    await ensureNode22Tools(line => process.stdout.write(`${line}\n`))
    const { url } = await startTarget({ teardown: fn => teardowns.push(fn) })
    const report = await runSuite(url)
    process.stdout.write(`${summary(report)}\n`)
    if (report.problems.length > 0) process.stdout.write(`\n${report.output}\n`)
    code = report.problems.length === 0 ? 0 : 1
  } catch (err) {
    process.stderr.write(`conformance run failed: ${(err as Error).stack ?? String(err)}\n`)
  } finally {
    for (const fn of teardowns.reverse()) await fn()
  }
  process.exit(code)
}
