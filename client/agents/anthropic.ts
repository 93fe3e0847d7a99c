import type { MessageParam, Tool, ToolResultBlockParam } from '@anthropic-ai/sdk/resources/messages'
import { AgentError, executeToolCall, importModelSdk, SYSTEM_PROMPT, type AgentResult, type AgentRun, type ToolCallRecord } from './loop.ts'

export const ANTHROPIC_DEFAULT_BASE_URL = 'https://api.anthropic.com'
export const ANTHROPIC_DEFAULT_MODEL = 'claude-sonnet-4-6'
const MAX_TOKENS = 2048

/** The Anthropic SDK, imported on first use (see importModelSdk). */
export const loadAnthropic = async () => (await importModelSdk('@anthropic-ai/sdk', async () => await import('@anthropic-ai/sdk'))).default

export interface AnthropicOptions {
  apiKey: string
  /** ANTHROPIC_BASE_URL: a proxy or gateway speaking the Messages API. */
  baseURL?: string
  fetch?: typeof fetch
}

/** Anthropic tool definitions, from MCP tool definitions. */
export function anthropicTools (run: Pick<AgentRun, 'tools'>): Tool[] {
  return run.tools.map(tool => ({
    name: tool.name,
    description: tool.description,
    input_schema: tool.inputSchema as Tool['input_schema']
  }))
}

/**
 * The tool loop on Anthropic's Messages API: `tool_use` blocks run through MCP and go back as
 * `tool_result` blocks in the next user turn, until the model answers in text or the round
 * limit is reached.
 */
export async function runAnthropicAgent (options: AnthropicOptions, run: AgentRun): Promise<AgentResult> {
  const Anthropic = await loadAnthropic()
  const client = new Anthropic({
    apiKey: options.apiKey,
    authToken: null,
    baseURL: options.baseURL ?? ANTHROPIC_DEFAULT_BASE_URL,
    maxRetries: 1,
    timeout: 120_000,
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {})
  })
  const tools = anthropicTools(run)
  const messages: MessageParam[] = [{ role: 'user', content: run.prompt }]
  const records: ToolCallRecord[] = []
  for (let round = 1; round <= run.maxRounds + 1; round++) {
    const lastRound = round > run.maxRounds
    const response = await client.messages.create({
      model: run.model,
      max_tokens: MAX_TOKENS,
      system: SYSTEM_PROMPT,
      messages,
      ...(tools.length > 0 ? { tools, tool_choice: lastRound ? { type: 'none' as const } : { type: 'auto' as const } } : {})
    })
    const uses = response.content.filter(block => block.type === 'tool_use')
    if (uses.length === 0) {
      const answer = response.content.flatMap(block => block.type === 'text' ? [block.text] : []).join('\n')
      return { answer, toolCalls: records, rounds: round }
    }
    if (lastRound) break
    messages.push({ role: 'assistant', content: response.content })
    const results: ToolResultBlockParam[] = []
    for (const use of uses) {
      const outcome = await executeToolCall(run, use.name, use.input, records)
      results.push({ type: 'tool_result', tool_use_id: use.id, content: outcome.text, ...(outcome.isError ? { is_error: true } : {}) })
    }
    messages.push({ role: 'user', content: results })
  }
  throw new AgentError(`The model still asked for tools after ${run.maxRounds} rounds; stopped (raise --max-rounds to allow more).`)
}
