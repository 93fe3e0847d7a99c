import { basename, relative } from 'node:path'
import { parseArgs } from 'node:util'
import type { FetchLike } from '@modelcontextprotocol/client'
import { CliError, DEFAULT_PROGRAM, toCliError } from './ui/errors.ts'
import { Output, type Writer } from './ui/output.ts'
import { TokenCache, configDir } from './auth/token-cache.ts'
import { DEFAULT_SIGNIN_TIMEOUT_MS } from './auth/loopback.ts'
import { systemBrowser, type OpenUrl } from './auth/browser.ts'
import { CLIENT_VERSION, PROTOCOLS, type Context, type ProtocolChoice } from './auth/session.ts'
import { login, logout, status } from './commands/auth.ts'
import { callTool, tools, whoami } from './commands/tools.ts'
import { agent, DEFAULT_MAX_ROUNDS, PROVIDERS, type AgentArgs, type Provider } from './commands/agent.ts'

export const DEFAULT_SERVER = 'http://localhost:8000/mcp'

/** What the program gets from its surroundings; tests replace any of it (the browser above all). */
export interface RunDeps {
  env?: Record<string, string | undefined>
  stdout?: Writer
  stderr?: Writer
  /** Opens the authorization URL; the default starts the system browser. */
  openUrl?: OpenUrl
  now?: () => number
  signInTimeoutMs?: number
  fetch?: FetchLike
  /** How the person runs this CLI, named in hints (see programName); default DEFAULT_PROGRAM. */
  program?: string
}

export const USAGE = `Usage: entra-mcp-client <command> [options]

Commands:
  login                      sign in (browser) and cache the tokens
  login --device             sign in from a machine without a browser: enter a code on any device
  tools                      list the server's tools and the scopes each needs
  call <tool> [key=value …]  call a tool (or: call <tool> --json '{"key": "value"}')
  whoami                     who the server thinks you are
  status                     what is cached for the server (no network)
  logout                     revoke the tokens at the server and delete the cache
  agent --provider openai|anthropic "<prompt>"
                             let a model use the tools you may call

Options:
  --server URL        MCP endpoint (default ${DEFAULT_SERVER}, or $ENTRA_MCP_SERVER)
  --protocol VERSION  MCP revision: auto (default: 2026-07-28 when the server offers it,
                      else 2025-11-25), 2025-11-25, or 2026-07-28 (no fallback)
  --json              machine-readable output (one JSON document on stdout)
  --scope "a b"       login: the scopes to ask for (default: all the server offers)
  --device            login: print an address and a code to sign in on another device (RFC 8628)
  --model NAME        agent: the model (default $OPENAI_MODEL / $ANTHROPIC_MODEL or a current one)
  --max-rounds N      agent: most tool rounds (default ${DEFAULT_MAX_ROUNDS})
  -h, --help          this text

Environment: OPENAI_API_KEY, OPENAI_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_BASE_URL,
XDG_CONFIG_HOME (credentials in $XDG_CONFIG_HOME/entra-mcp-gateway/credentials.json), BROWSER.
Exit codes: 0 ok, 1 error, 2 usage, 3 not signed in / sign-in failed / scope refused, 4 server unreachable.
`

const COMMAND_OPTIONS: Record<string, string[]> = {
  login: ['scope', 'device'],
  tools: [],
  call: ['args'],
  whoami: [],
  status: [],
  logout: [],
  agent: ['provider', 'model', 'max-rounds']
}

/**
 * `--json` is the output switch, but `call <tool> --json '{…}'` passes arguments: a `--json`
 * followed by something that looks like a JSON object is read as the arguments.
 */
export function rewriteJsonArguments (argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    const next = argv[i + 1]
    if (arg === '--json' && next !== undefined && next.trimStart().startsWith('{')) {
      out.push('--args', next)
      i++
    } else if (arg.startsWith('--json=')) {
      out.push(`--args=${arg.slice('--json='.length)}`)
    } else {
      out.push(arg)
    }
  }
  return out
}

function parse (argv: string[]) {
  return parseArgs({
    args: rewriteJsonArguments(argv),
    allowPositionals: true,
    strict: true,
    options: {
      server: { type: 'string' },
      protocol: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
      scope: { type: 'string' },
      device: { type: 'boolean' },
      args: { type: 'string' },
      provider: { type: 'string' },
      model: { type: 'string' },
      'max-rounds': { type: 'string' }
    }
  })
}

/**
 * The command a person typed to run this CLI, for hints that must name one that exists:
 * `npm run -s client --` in a checkout (the bin is not on PATH there), the bin when installed,
 * else node (or tsx) and the script.
 */
export function programName (env: Record<string, string | undefined>, script: string, cwd: string): string {
  if (env.npm_lifecycle_event === 'client') return 'npm run -s client --'
  if (basename(script) === DEFAULT_PROGRAM) return DEFAULT_PROGRAM
  return `${script.endsWith('.ts') ? 'npx tsx' : 'node'} ${relative(cwd, script) || script}`
}

function normaliseServer (raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new CliError('usage', `--server must be a URL such as ${DEFAULT_SERVER}, got "${raw}".`)
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliError('usage', `--server must be an http(s) URL, got "${raw}".`)
  if (url.username !== '' || url.password !== '') throw new CliError('usage', '--server must not carry a user name or password.')
  url.hash = ''
  return url.href
}

type Values = ReturnType<typeof parse>['values']

/** Refuses an option that belongs to another command. */
function checkOptions (command: string, values: Values): void {
  const allowed = COMMAND_OPTIONS[command]
  if (allowed === undefined) throw new CliError('usage', `Unknown command "${command}". Run with --help for usage.`)
  for (const key of ['scope', 'device', 'args', 'provider', 'model', 'max-rounds'] as const) {
    if (values[key] !== undefined && !allowed.includes(key)) {
      throw new CliError('usage', `--${key === 'args' ? 'json {…}' : key} does not apply to "${command}".`)
    }
  }
}

function protocolOf (value: string | undefined): ProtocolChoice {
  if (value === undefined) return 'auto'
  if (!(PROTOCOLS as readonly string[]).includes(value)) throw new CliError('usage', `--protocol must be one of ${PROTOCOLS.join(', ')}, got "${value}".`)
  return value as ProtocolChoice
}

function contextFor (server: string, protocol: ProtocolChoice, env: Record<string, string | undefined>, deps: RunDeps, out: Output): Context {
  return {
    server,
    protocol,
    cache: new TokenCache(configDir(env)),
    openUrl: deps.openUrl ?? systemBrowser(env),
    now: deps.now ?? Date.now,
    signInTimeoutMs: deps.signInTimeoutMs ?? DEFAULT_SIGNIN_TIMEOUT_MS,
    fetch: deps.fetch ?? ((url, init) => fetch(url, init)),
    notify: (line) => out.info(line),
    program: deps.program ?? DEFAULT_PROGRAM
  }
}

/** `agent --provider … "<prompt>"`: the provider, prompt and rounds checked before anything connects. */
function agentArgs (rest: string[], values: Values, env: Record<string, string | undefined>): AgentArgs {
  const provider = values.provider
  if (provider === undefined) throw new CliError('usage', `agent needs --provider ${PROVIDERS.join('|')}.`)
  if (!(PROVIDERS as readonly string[]).includes(provider)) {
    throw new CliError('usage', `Unknown provider "${provider}": choose ${PROVIDERS.join(' or ')} (another model works when it speaks one of their APIs: set OPENAI_BASE_URL or ANTHROPIC_BASE_URL).`)
  }
  const prompt = rest.join(' ').trim()
  if (prompt === '') throw new CliError('usage', 'agent needs a prompt: agent --provider openai "What is my name?"')
  const maxRounds = values['max-rounds'] !== undefined ? Number(values['max-rounds']) : DEFAULT_MAX_ROUNDS
  if (!Number.isInteger(maxRounds) || maxRounds < 1 || maxRounds > 50) throw new CliError('usage', '--max-rounds must be a whole number from 1 to 50.')
  return { provider: provider as Provider, prompt, model: values.model, maxRounds, env }
}

async function dispatch (command: string, rest: string[], values: Values, ctx: Context, out: Output, env: Record<string, string | undefined>): Promise<number> {
  switch (command) {
    case 'login':
      if (rest.length > 0) throw new CliError('usage', 'login takes no arguments (did you mean --scope "…"?).')
      return await login(ctx, out, { scope: values.scope, device: values.device === true })
    case 'logout':
      return await logout(ctx, out)
    case 'status':
      return await status(ctx, out)
    case 'tools':
      return await tools(ctx, out)
    case 'whoami':
      return await whoami(ctx, out)
    case 'call': {
      const [name, ...pairs] = rest
      if (name === undefined) throw new CliError('usage', 'call needs a tool name: call <tool> [key=value …]')
      return await callTool(ctx, out, { name, pairs, json: values.args })
    }
    case 'agent':
      return await agent(ctx, out, agentArgs(rest, values, env))
  }
  throw new CliError('usage', `Unknown command "${command}".`)
}

/** The whole CLI as a function: parses `argv` (without node and the script), runs, returns the exit code. */
export async function run (argv: string[], deps: RunDeps = {}): Promise<number> {
  const env = deps.env ?? {}
  const stdout = deps.stdout ?? { write: () => true }
  const stderr = deps.stderr ?? { write: () => true }
  const wantsJson = argv.includes('--json') && !argv.some((a, i) => a === '--json' && (argv[i + 1] ?? '').trimStart().startsWith('{'))
  let out = new Output(stdout, stderr, wantsJson)
  let server = DEFAULT_SERVER
  try {
    let parsed: ReturnType<typeof parse>
    try {
      parsed = parse(argv)
    } catch (err) {
      throw new CliError('usage', `${(err as Error).message}. Run with --help for usage.`)
    }
    const { values, positionals } = parsed
    out = new Output(stdout, stderr, values.json === true)
    if (values.version === true) {
      stdout.write(`${CLIENT_VERSION}\n`)
      return 0
    }
    const [command, ...rest] = positionals
    if (values.help === true || command === undefined || command === 'help') {
      stdout.write(USAGE)
      return command === undefined && values.help !== true ? 2 : 0
    }
    checkOptions(command, values)
    server = normaliseServer(values.server ?? (env.ENTRA_MCP_SERVER !== undefined && env.ENTRA_MCP_SERVER !== '' ? env.ENTRA_MCP_SERVER : DEFAULT_SERVER))
    const protocol = protocolOf(values.protocol)
    return await dispatch(command, rest, values, contextFor(server, protocol, env, deps, out), out, env)
  } catch (err) {
    const error = toCliError(err, server)
    out.error(error.kind, error.message)
    return error.exitCode
  }
}
