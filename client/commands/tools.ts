import type { Tool } from '@modelcontextprotocol/client'
import { CliError } from '../ui/errors.ts'
import type { Output } from '../ui/output.ts'
import { listAllTools, withSession, type Context } from '../auth/session.ts'
import { splitScopes } from '../auth/scopes.ts'
import { mayCall, requiredScopes } from '../auth/tool-scopes.ts'
import { resultText } from '../agents/loop.ts'

export async function tools (ctx: Context, out: Output): Promise<number> {
  const { list, granted, protocolVersion } = await withSession(ctx, async ({ client, provider }) => ({
    list: await listAllTools(client),
    granted: provider.currentEntry?.scope,
    protocolVersion: client.getNegotiatedProtocolVersion() ?? null
  }))
  const rows = list.map(tool => ({
    name: tool.name,
    title: tool.title ?? null,
    description: tool.description ?? '',
    requiredScopes: requiredScopes(tool) ?? null,
    allowed: mayCall(tool, granted),
    inputSchema: tool.inputSchema
  }))
  out.result({ server: ctx.server, protocolVersion, grantedScopes: splitScopes(granted), tools: rows }, () => {
    if (rows.length === 0) return 'The server offers no tools.'
    const width = Math.max(...rows.map(r => r.name.length))
    const lines = rows.map(r => {
      const scopes = r.requiredScopes === null ? '(no scope listed)' : r.requiredScopes.join(' ') || '(none)'
      const mark = r.allowed ? ' ' : '!'
      const summary = r.description.split('\n')[0]
      return `${mark} ${r.name.padEnd(width)}  scopes: ${scopes}\n    ${summary}`
    })
    const notAllowed = rows.filter(r => !r.allowed).length
    if (notAllowed > 0) lines.push('', '! = needs a scope you have not granted; calling it asks you to sign in again for it.')
    lines.push('', `Granted scopes: ${splitScopes(granted).join(' ') || '(none reported)'}`, `MCP revision: ${protocolVersion ?? 'unknown'}`)
    return lines.join('\n')
  })
  return 0
}

type Schema = { type?: string | string[], properties?: Record<string, { type?: string | string[] }>, additionalProperties?: unknown }

/** `key=value` pairs typed by the tool's input schema (numbers, booleans, JSON for objects/arrays). */
export function argumentsFromPairs (pairs: string[], tool: Pick<Tool, 'inputSchema'> | undefined): Record<string, unknown> {
  const props = (tool?.inputSchema as Schema | undefined)?.properties ?? {}
  const args: Record<string, unknown> = {}
  for (const pair of pairs) {
    const eq = pair.indexOf('=')
    if (eq <= 0) throw new CliError('usage', `Expected key=value, got "${pair}".`)
    const key = pair.slice(0, eq)
    const raw = pair.slice(eq + 1)
    const declared = props[key]?.type
    const types = Array.isArray(declared) ? declared : declared !== undefined ? [declared] : []
    if (types.includes('string') || types.length === 0) {
      args[key] = raw
    } else if (types.includes('integer') || types.includes('number')) {
      const n = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(n)) throw new CliError('usage', `${key} must be a number, got "${raw}".`)
      args[key] = n
    } else if (types.includes('boolean')) {
      if (raw !== 'true' && raw !== 'false') throw new CliError('usage', `${key} must be true or false, got "${raw}".`)
      args[key] = raw === 'true'
    } else {
      try {
        args[key] = JSON.parse(raw)
      } catch {
        throw new CliError('usage', `${key} must be JSON (${types.join('/')}), got "${raw}".`)
      }
    }
  }
  return args
}

/**
 * Refuses arguments the tool does not declare (a typo would otherwise be dropped without a word),
 * showing its input schema; a schema that allows other properties takes anything.
 */
export function checkArgumentNames (name: string, args: Record<string, unknown>, tool: Pick<Tool, 'inputSchema'>): void {
  const schema = tool.inputSchema as Schema
  if (schema.additionalProperties !== undefined && schema.additionalProperties !== false) return
  const known = Object.keys(schema.properties ?? {})
  const unknown = Object.keys(args).filter(key => !known.includes(key))
  if (unknown.length === 0) return
  throw new CliError('usage', `${name} has no argument ${unknown.map(k => `"${k}"`).join(', ')}; it takes ${known.length === 0 ? 'none' : known.join(', ')}. Input schema: ${JSON.stringify(tool.inputSchema)}`)
}

export function parseJsonArguments (text: string): Record<string, unknown> {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    throw new CliError('usage', `--json arguments are not valid JSON: ${(err as Error).message}`)
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new CliError('usage', '--json arguments must be a JSON object.')
  return parsed as Record<string, unknown>
}

export async function callTool (ctx: Context, out: Output, { name, pairs, json }: { name: string, pairs: string[], json?: string }): Promise<number> {
  const result = await withSession(ctx, async ({ client }) => {
    const list = await listAllTools(client)
    const tool = list.find(t => t.name === name)
    if (tool === undefined) {
      throw new CliError('usage', `The server has no tool named "${name}". Available: ${list.map(t => t.name).join(', ') || 'none'}.`)
    }
    const args = { ...(json !== undefined ? parseJsonArguments(json) : {}), ...argumentsFromPairs(pairs, tool) }
    checkArgumentNames(name, args, tool)
    return client.callTool({ name, arguments: args })
  })
  const { text, isError } = resultText(result as Parameters<typeof resultText>[0])
  if (isError && !out.json) out.info(`Tool ${name} failed: ${text}`)
  else out.result(result, () => text)
  return isError ? 1 : 0
}

export async function whoami (ctx: Context, out: Output): Promise<number> {
  const result = await withSession(ctx, ({ client }) => client.callTool({ name: 'whoami', arguments: {} }))
  const { text, isError } = resultText(result as Parameters<typeof resultText>[0])
  if (isError) throw new CliError('tool_error', `The whoami tool failed: ${text}`)
  const data = result.structuredContent
  out.result(data ?? { text }, () => {
    if (data === undefined || data === null || typeof data !== 'object') return text
    return Object.entries(data)
      .filter(([, v]) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(' ') : typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
      .join('\n')
  })
  return 0
}
