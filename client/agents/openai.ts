import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions'
import { AgentError, executeToolCall, importModelSdk, SYSTEM_PROMPT, type AgentResult, type AgentRun, type ToolCallRecord } from './loop.ts'

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1'
export const OPENAI_DEFAULT_MODEL = 'gpt-5.4-mini'

/** The OpenAI SDK, imported on first use (see importModelSdk). */
export const loadOpenAI = async () => (await importModelSdk('openai', async () => await import('openai'))).default

export interface OpenAIOptions {
  apiKey: string
  /** OPENAI_BASE_URL: a proxy, or Azure OpenAI's v1 endpoint `https://{resource}.openai.azure.com/openai/v1/`. */
  baseURL?: string
  fetch?: typeof fetch
}

/** Function tools for chat.completions, from MCP tool definitions. */
export function openAITools (run: Pick<AgentRun, 'tools'>): ChatCompletionTool[] {
  return run.tools.map(tool => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.inputSchema }
  }))
}

/**
 * The tool loop on OpenAI's chat.completions API: the model answers with tool calls, each runs
 * through MCP and its result goes back as a `tool` message, until the model answers in text or
 * the round limit is reached.
 */
export async function runOpenAIAgent (options: OpenAIOptions, run: AgentRun): Promise<AgentResult> {
  const OpenAI = await loadOpenAI()
  const client = new OpenAI({
    apiKey: options.apiKey,
    baseURL: options.baseURL ?? OPENAI_DEFAULT_BASE_URL,
    organization: null,
    project: null,
    maxRetries: 1,
    timeout: 120_000,
    ...(options.fetch !== undefined ? { fetch: options.fetch } : {})
  })
  const tools = openAITools(run)
  const messages: ChatCompletionMessageParam[] = [
    { role: 'system', content: SYSTEM_PROMPT },
    { role: 'user', content: run.prompt }
  ]
  const records: ToolCallRecord[] = []
  for (let round = 1; round <= run.maxRounds + 1; round++) {
    const completion = await client.chat.completions.create({
      model: run.model,
      messages,
      ...(tools.length > 0 ? { tools, tool_choice: round > run.maxRounds ? 'none' : 'auto' } : {})
    })
    const message = completion.choices[0]?.message
    if (message === undefined) throw new AgentError('The model returned no message.')
    const calls = (message.tool_calls ?? []).filter(c => c.type === 'function')
    if (calls.length === 0) {
      return { answer: message.content ?? message.refusal ?? '', toolCalls: records, rounds: round }
    }
    if (round > run.maxRounds) break
    messages.push({ role: 'assistant', content: message.content ?? null, tool_calls: calls })
    for (const call of calls) {
      const outcome = await executeToolCall(run, call.function.name, call.function.arguments, records)
      messages.push({ role: 'tool', tool_call_id: call.id, content: outcome.isError ? `Tool error: ${outcome.text}` : outcome.text })
    }
  }
  throw new AgentError(`The model still asked for tools after ${run.maxRounds} rounds; stopped (raise --max-rounds to allow more).`)
}
