import { CliError, toCliError } from '../ui/errors.ts'
import type { Output } from '../ui/output.ts'
import { findStepUp, listAllTools, withSession, type Context } from '../auth/session.ts'
import { splitScopes } from '../auth/scopes.ts'
import { mayCall } from '../auth/tool-scopes.ts'
import { AgentError, resultText, toAgentTool, type AgentResult, type AgentRun, type ToolOutcome } from '../agents/loop.ts'
import { OPENAI_DEFAULT_BASE_URL, OPENAI_DEFAULT_MODEL, loadOpenAI, runOpenAIAgent } from '../agents/openai.ts'
import { ANTHROPIC_DEFAULT_BASE_URL, ANTHROPIC_DEFAULT_MODEL, loadAnthropic, runAnthropicAgent } from '../agents/anthropic.ts'

export const PROVIDERS = ['openai', 'anthropic'] as const
export type Provider = typeof PROVIDERS[number]
export const DEFAULT_MAX_ROUNDS = 5

interface ProviderSettings { apiKey: string, baseURL: string, model: string }

const nonEmpty = (v: string | undefined) => v !== undefined && v.trim() !== '' ? v.trim() : undefined

/** API key, base URL and model for a provider, from the environment and --model. */
export function providerSettings (provider: Provider, env: Record<string, string | undefined>, model: string | undefined): ProviderSettings {
  if (provider === 'openai') {
    const apiKey = nonEmpty(env.OPENAI_API_KEY)
    if (apiKey === undefined) {
      throw new CliError('no_api_key', 'OPENAI_API_KEY is not set. Export your OpenAI API key (for Azure OpenAI: the resource key, with OPENAI_BASE_URL=https://<resource>.openai.azure.com/openai/v1/ and --model <deployment>).')
    }
    return { apiKey, baseURL: nonEmpty(env.OPENAI_BASE_URL) ?? OPENAI_DEFAULT_BASE_URL, model: model ?? nonEmpty(env.OPENAI_MODEL) ?? OPENAI_DEFAULT_MODEL }
  }
  const apiKey = nonEmpty(env.ANTHROPIC_API_KEY)
  if (apiKey === undefined) {
    throw new CliError('no_api_key', 'ANTHROPIC_API_KEY is not set. Export your Anthropic API key (and ANTHROPIC_BASE_URL to go through a proxy or gateway).')
  }
  return { apiKey, baseURL: nonEmpty(env.ANTHROPIC_BASE_URL) ?? ANTHROPIC_DEFAULT_BASE_URL, model: model ?? nonEmpty(env.ANTHROPIC_MODEL) ?? ANTHROPIC_DEFAULT_MODEL }
}

export interface AgentArgs {
  provider: Provider
  prompt: string
  model?: string
  maxRounds: number
  env: Record<string, string | undefined>
}

export async function agent (ctx: Context, out: Output, args: AgentArgs): Promise<number> {
  // Before any network: a missing key is the most common mistake.
  const settings = providerSettings(args.provider, args.env, args.model)
  await (args.provider === 'openai' ? loadOpenAI() : loadAnthropic())
  const result = await withSession(ctx, async ({ client, provider }) => {
    const granted = provider.currentEntry?.scope
    const all = await listAllTools(client)
    const usable = all.filter(tool => mayCall(tool, granted))
    if (usable.length === 0) {
      throw new CliError('scope_refused', `None of the server's ${all.length} tools is allowed with your scopes (${splitScopes(granted).join(' ') || 'none'}); sign in again with more scopes.`)
    }
    out.info(`Tools for the model: ${usable.map(t => t.name).join(', ')}`)

    const callTool = async (name: string, toolArgs: Record<string, unknown>): Promise<ToolOutcome> => {
      try {
        return resultText(await client.callTool({ name, arguments: toolArgs }) as Parameters<typeof resultText>[0])
      } catch (err) {
        // A refused scope mid-run goes back to the model as a tool error; the run goes on.
        const stepUp = findStepUp(err)
        if (stepUp !== undefined) {
          return { text: `Permission denied: this tool needs scope ${stepUp.requiredScope ?? '(not named by the server)'}.`, isError: true }
        }
        return { text: `Tool call failed: ${toCliError(err, ctx.server).message}`, isError: true }
      }
    }
    const run: AgentRun = {
      prompt: args.prompt,
      model: settings.model,
      tools: usable.map(toAgentTool),
      maxRounds: args.maxRounds,
      callTool,
      onToolCall: (record) => out.line(`→ tool call: ${record.name}(${JSON.stringify(record.arguments)})${record.isError ? ' — failed' : ''}`)
    }
    try {
      const options = { apiKey: settings.apiKey, baseURL: settings.baseURL }
      return args.provider === 'openai' ? await runOpenAIAgent(options, run) : await runAnthropicAgent(options, run)
    } catch (err) {
      if (err instanceof CliError || findStepUp(err) !== undefined) throw err
      if (err instanceof AgentError) throw new CliError('agent_error', err.message)
      const status = (err as { status?: unknown }).status
      const message = (err as Error).message ?? String(err)
      throw new CliError('agent_error', `The ${args.provider} API at ${settings.baseURL} failed${typeof status === 'number' ? ` (HTTP ${status})` : ''}: ${message}`)
    }
  }, { stepUp: false })

  const done: AgentResult = result
  out.result({ provider: args.provider, model: settings.model, answer: done.answer, toolCalls: done.toolCalls, rounds: done.rounds }, () =>
    (done.toolCalls.length > 0 ? '\n' : '') + done.answer)
  return 0
}
