import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { run, type RunDeps } from '../../client/run.ts'
import { TokenCache, configDir, type ServerEntry } from '../../client/auth/token-cache.ts'
import { Browserless, type AuthorizeOptions } from './browserless.ts'

type Test = { teardown: (fn: () => unknown) => void }

/** A private XDG_CONFIG_HOME for one test, removed afterwards. */
export async function tempConfigHome (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'entra-mcp-client-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

export function cacheFor (xdg: string): TokenCache {
  return new TokenCache(configDir({ XDG_CONFIG_HOME: xdg }))
}

export interface CliResult { code: number, stdout: string, stderr: string }

/** Runs the CLI in-process with captured output. */
export async function runCli (argv: string[], deps: RunDeps = {}): Promise<CliResult> {
  let stdout = ''
  let stderr = ''
  const code = await run(argv, {
    ...deps,
    stdout: { write: (s: string) => { stdout += s } },
    stderr: { write: (s: string) => { stderr += s } }
  })
  return { code, stdout, stderr }
}

const checkout = fileURLToPath(new URL('../..', import.meta.url))

/**
 * A shell command typed in the checkout, as the documentation writes it (`npm run -s client -- …`),
 * with a private config home. Under `npm test`, npm's settings are exported to this process; the
 * command's npm starts clean.
 */
export function inCheckout (command: string, xdg: string, extraEnv: Record<string, string> = {}): { child: ChildProcess, stop: () => void, done: Promise<CliResult> } {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)))
  // A process group of its own: npm starts sh, tsx and node below it, and stop() ends them all.
  const child = spawn('sh', ['-c', command], { cwd: checkout, env: { ...env, XDG_CONFIG_HOME: xdg, ENTRA_MCP_SERVER: '', ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const stop = () => {
    try { if (child.pid !== undefined) process.kill(-child.pid, 'SIGTERM') } catch {} // already gone
  }
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', d => { stdout += d })
  child.stderr?.on('data', d => { stderr += d })
  const done = new Promise<CliResult>(resolve => child.on('close', code => resolve({ code: code ?? 1, stdout, stderr })))
  return { child, stop, done }
}

/**
 * The browser step of a sign-in, done without a browser: follows the authorization URL through
 * the consent page and the development sign-in page (one cookie jar, like one browser across
 * sign-ins), then delivers the redirect to the CLI's loopback listener.
 */
export function headlessBrowser (options: AuthorizeOptions = {}) {
  const browser = new Browserless()
  const opened: URL[] = []
  const openUrl = async (url: string): Promise<boolean> => {
    opened.push(new URL(url))
    const redirectUri = new URL(url).searchParams.get('redirect_uri') ?? ''
    const result = await browser.authorize(url, { ...options, stopAt: (u) => u.startsWith(redirectUri) })
    // The last hop: the browser lands on the loopback listener, which receives code (or error).
    const response = await fetch(result.url)
    await response.text()
    return true
  }
  return { openUrl, opened, browser }
}

/** Audit lines with a given event name, from logs captured with build's `logs` option. */
export function auditEvents (logs: string[], event: string): Array<Record<string, any>> {
  return logs.map(line => { try { return JSON.parse(line) } catch { return {} } })
    .filter(l => l.audit === true && l.event === event)
}

export async function seedCache (xdg: string, server: string, entry: ServerEntry): Promise<void> {
  await cacheFor(xdg).update(server, () => entry)
}
