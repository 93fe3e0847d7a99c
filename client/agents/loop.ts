import type { CallToolResult, Tool } from '@modelcontextprotocol/client'
import { CliError } from '../ui/errors.ts'

/** A tool as handed to a model: its MCP name, description and JSON Schema input. */
export interface AgentTool {
  name: string
  description: string
  inputSchema: Record<string, unknown>
}

export interface ToolOutcome {
  text: string
  isError: boolean
}

export interface ToolCallRecord {
  name: string
  arguments: Record<string, unknown>
  isError: boolean
}

export interface AgentRun {
  prompt: string
  model: string
  tools: AgentTool[]
  maxRounds: number
  /** Executes one tool call through MCP. */
  callTool: (name: string, args: Record<string, unknown>) => Promise<ToolOutcome>
  /** Told about each tool call once it has run (the CLI prints it). */
  onToolCall: (record: ToolCallRecord) => void
}

export interface AgentResult {
  answer: string
  toolCalls: ToolCallRecord[]
  rounds: number
}

export class AgentError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AgentError'
  }
}

/**
 * The model SDKs are development dependencies: the service never loads them, so the production
 * image leaves them out. The agent imports its SDK when it runs and says what to do when it is absent.
 */
export async function importModelSdk<T> (name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err
    throw new CliError('agent_error', `The agent needs the "${name}" package, which is not installed here (it is a development dependency; production installs leave it out). In a checkout, run \`npm install\` without --omit=dev.`)
  }
}

export const SYSTEM_PROMPT = 'You are an assistant with access to tools served by an MCP server on behalf of the signed-in user. ' +
  'Call a tool when it helps answer; answer from the tool results and say so when a tool fails.'

export function toAgentTool (tool: Tool): AgentTool {
  const schema = { ...(tool.inputSchema as Record<string, unknown>) }
  if (schema.type === undefined) schema.type = 'object'
  if (schema.properties === undefined) schema.properties = {}
  return { name: tool.name, description: tool.description ?? tool.title ?? tool.name, inputSchema: schema }
}

/** An MCP tool result as text for a model: text parts, else the structured content. */
export function resultText (result: CallToolResult): ToolOutcome {
  const parts: string[] = []
  for (const item of result.content ?? []) {
    if (item.type === 'text') parts.push(item.text)
    else if (item.type === 'resource' && 'text' in item.resource && typeof item.resource.text === 'string') parts.push(item.resource.text)
    else if (item.type === 'resource_link') parts.push(`[resource ${item.uri}]`)
    else parts.push(`[${item.type} content omitted]`)
  }
  if (parts.length === 0 && result.structuredContent !== undefined) parts.push(JSON.stringify(result.structuredContent))
  return { text: parts.join('\n'), isError: result.isError === true }
}

/** Parses a model's tool arguments (a JSON string for OpenAI); bad JSON becomes a tool error, not a crash. */
export function parseArguments (raw: unknown): Record<string, unknown> | Error {
  if (raw === undefined || raw === null || raw === '') return {}
  if (typeof raw === 'object' && !Array.isArray(raw)) return raw as Record<string, unknown>
  if (typeof raw !== 'string') return new Error('arguments are not an object')
  try {
    const parsed: unknown = JSON.parse(raw)
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return new Error('arguments are not a JSON object')
    return parsed as Record<string, unknown>
  } catch (err) {
    return new Error(`arguments are not valid JSON (${(err as Error).message})`)
  }
}

/** Runs one tool call the model asked for; unknown tools and bad arguments go back to the model as errors. */
export async function executeToolCall (run: AgentRun, name: string, rawArgs: unknown, records: ToolCallRecord[]): Promise<ToolOutcome> {
  const args = parseArguments(rawArgs)
  let outcome: ToolOutcome
  if (args instanceof Error) {
    outcome = { text: `Error: ${args.message}`, isError: true }
  } else if (!run.tools.some(t => t.name === name)) {
    outcome = { text: `Error: there is no tool named ${name} available to you.`, isError: true }
  } else {
    outcome = await run.callTool(name, args)
  }
  const record = { name, arguments: args instanceof Error ? {} : args, isError: outcome.isError }
  records.push(record)
  run.onToolCall(record)
  return outcome
}
