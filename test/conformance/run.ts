// Runs the server scenarios of @modelcontextprotocol/conformance against this service, in two
// suites: the 2025 scenarios (conformance 0.1.16) and the 2026-07-28 ones (0.2.0-alpha.12).
//
//   npm run test:conformance [-- 2025|2026] [--keep]   (both suites by default; --keep leaves the
//   CLI's checks.json files in a temporary folder; also run by conformance.test.ts)
//
// The suite needs Node >= 22 and has no option to send a header, so:
// - Node 22 and both suite versions are installed into .tools/conformance (git-ignored) on first
//   use, by test/support/node22-tools.ts (with the MCP Inspector: one install, under a lock);
// - the service listens on a loopback port with the suite's reference tools, resource and prompts
//   added (fixture-tools.ts, fixture-catalog.ts), behind a loopback proxy that adds `Authorization: Bearer <valid token>`;
// - each suite's CLI runs with its own expected-failures file (a reason on every line);
// - then each scenario's checks.json is read (judge.ts): every check not excused must be SUCCESS,
//   tool calls must have reached a real tool (not "Tool ... not found"), and an entry that
//   excuses nothing any more is reported as stale.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { buildListening } from '../helper.ts'
import { NODE22 as NODE, TOOLS_DIR as TOOLS, ensureNode22Tools, pinnedVersion, toolPath } from '../support/node22-tools.ts'
import { SIGNING_KEY_PEM, mintToken } from '../support/mcp.ts'
import { fixtureTools } from './fixture-tools.ts'
import { fixtureInputTools } from './fixture-input-tools.ts'
import { fixturePrompts, fixtureResources } from './fixture-catalog.ts'
import { judge, readExpectedFailures, summary, type Check, type Excuse, type SuiteResult } from './judge.ts'

const HERE = dirname(fileURLToPath(import.meta.url))

/**
 * The scenarios of both suites that pass for real: tools with the suite's reference tools
 * (fixture-tools.ts), resources and prompts with its reference resource and prompts (fixture-catalog.ts).
 */
const SHARED_SCENARIOS = ['tools-list', 'tools-call-simple-text', 'tools-call-image', 'tools-call-audio',
  'tools-call-embedded-resource', 'tools-call-mixed-content', 'tools-call-error', 'dns-rebinding-protection',
  'resources-list', 'resources-read-text', 'prompts-list', 'prompts-get-simple', 'prompts-get-with-image']

export interface Suite {
  label: string
  cli: string
  /** Which scenarios the CLI runs (after `server --url <url>`). */
  args: string[]
  expectedFailures: string
  /** Scenarios this server must pass for real: never excused as a whole, and a missing one is a failure. */
  required: string[]
}

export type SuiteName = '2025' | '2026'
export const SUITES: Record<SuiteName, Suite> = {
  2025: {
    label: `2025 (${pinnedVersion('@modelcontextprotocol/conformance')})`,
    cli: toolPath('@modelcontextprotocol/conformance', 'dist', 'index.js'),
    args: [],
    expectedFailures: join(HERE, 'expected-failures-2025.yml'),
    required: ['server-initialize', 'ping', ...SHARED_SCENARIOS]
  },
  // `--spec-version 2026-07-28` alone runs only the "active" suite: the 20 scenarios older than the
  // revision, at its wire. The revision's own scenarios are "draft" in 0.2.0-alpha.12 and the two
  // header ones "pending" (never scored unless named); `--suite all` runs them all (40).
  2026: {
    label: `2026-07-28 (${pinnedVersion('conformance-2026')})`,
    cli: toolPath('conformance-2026', 'dist', 'index.js'),
    args: ['--suite', 'all', '--spec-version', '2026-07-28'],
    expectedFailures: join(HERE, 'expected-failures-2026.yml'),
    required: ['server-stateless', 'http-header-validation', 'http-custom-header-server-validation', 'caching',
      'sep-2164-resource-not-found', 'json-schema-2020-12', ...SHARED_SCENARIOS]
  }
}

type Teardown = { teardown: (fn: () => unknown) => void }

/** The service with the fixture tools, behind a loopback proxy that adds a valid bearer token (every offered scope). */
export async function startTarget (t: Teardown): Promise<{ url: string }> {
  const proxy: Server = createServer()
  await new Promise<void>(resolve => proxy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => {
    proxy.closeAllConnections()
    proxy.close(() => resolve())
  }))
  const proxyPort = (proxy.address() as AddressInfo).port
  let offered: string[] = []
  const { baseUrl, port } = await buildListening(t, {
    TOKEN_SIGNING_KEY: SIGNING_KEY_PEM,
    // Browsers would reach it through the proxy's origin (dns-rebinding-protection's valid case).
    MCP_ALLOWED_ORIGINS: `http://127.0.0.1:${proxyPort} http://localhost:${proxyPort}`
  }, { app: { mcp: { extraTools: [...fixtureTools, ...fixtureInputTools], extraResources: fixtureResources, extraPrompts: fixturePrompts } }, setup: async instance => { offered = instance.config.scopes } })
  // Every scope the service offers, as a user who consented to all of them: the header scenarios
  // call the first listed tool (graph_me, scope graph.read), and a 403 step-up is no answer there.
  const token = mintToken(baseUrl, offered.join(' '))
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

export interface ConformanceReport extends SuiteResult {
  exitCode: number | null
  output: string
}

/**
 * Runs one suite's CLI (Node 22) against `url` and judges the result. The CLI's output folders
 * (checks.json per scenario) are removed afterwards unless `keep` names a folder to leave them in.
 */
export async function runSuite (name: SuiteName, url: string, keep?: string): Promise<ConformanceReport> {
  const suite = SUITES[name]
  const outDir = keep ?? mkdtempSync(join(tmpdir(), 'mcp-conformance-'))
  try {
    const args = [suite.cli, 'server', '--url', url, ...suite.args, '--expected-failures', suite.expectedFailures, '-o', outDir]
    const child = spawn(NODE, args, { cwd: TOOLS, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', chunk => { output += chunk })
    child.stderr.on('data', chunk => { output += chunk })
    const timer = setTimeout(() => child.kill('SIGKILL'), 240_000)
    const exitCode = await new Promise<number | null>(resolve => child.on('close', code => resolve(code)))
    clearTimeout(timer)
    const scenarios = readChecks(outDir)
    const excuses: Excuse[] = readExpectedFailures(suite.expectedFailures)
    const problems = judge(scenarios, excuses, exitCode, suite.required, `expected-failures-${name}.yml`)
    return { label: suite.label, exitCode, output, scenarios, excuses, problems }
  } finally {
    if (keep === undefined) rmSync(outDir, { recursive: true, force: true })
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const teardowns: Array<() => unknown> = []
  let code = 1
  try {
    await ensureNode22Tools(line => process.stdout.write(`${line}\n`))
    const { url } = await startTarget({ teardown: fn => teardowns.push(fn) })
    const args = process.argv.slice(2)
    const names = args.filter((a): a is SuiteName => a in SUITES)
    const keep = args.includes('--keep') ? mkdtempSync(join(tmpdir(), 'mcp-conformance-kept-')) : undefined
    if (keep !== undefined) process.stdout.write(`checks.json files kept in ${keep}\n`)
    code = 0
    for (const name of names.length > 0 ? names : Object.keys(SUITES) as SuiteName[]) {
      const report = await runSuite(name, url, keep === undefined ? undefined : join(keep, name))
      process.stdout.write(`${summary(report)}\n`)
      if (report.problems.length > 0) {
        process.stdout.write(`\n${report.output.split('\n').filter(line => !line.startsWith('Results saved to ')).join('\n')}\n`)
        code = 1
      }
    }
  } catch (err) {
    process.stderr.write(`conformance run failed: ${(err as Error).stack ?? String(err)}\n`)
  } finally {
    for (const fn of teardowns.reverse()) await fn()
  }
  process.exit(code)
}
