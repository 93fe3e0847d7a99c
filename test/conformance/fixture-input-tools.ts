// The conformance suite's fixture tools for input-required results (2026-07-28, SEP-2322), as its
// input-required-result-* and server-stateless scenarios describe them, written against the
// tool-facing API every tool of this service gets (`ctx.input`, mcp/input-required.ts): their
// requestState is the service's signed, caller- and tool-bound state, so the tampered-state
// scenario exercises the real check.
import * as z from 'zod'
import { inputRequired } from '@modelcontextprotocol/server'
import { defineTool, toolResult, type AnyTool } from '../../mcp/registry.ts'

const base = { inputSchema: z.object({}), scopes: ['tools.read'] }
const text = (value: string) => toolResult({ content: [{ type: 'text', text: value }] })
const schemaOf = (field: string, type: 'string' | 'boolean' = 'string') =>
  ({ type: 'object' as const, properties: { [field]: type === 'string' ? { type } : { type } }, required: [field] })
const askName = (message = 'What is your name?') => inputRequired.elicit({ message, requestedSchema: schemaOf('name') })
const sample = (question: string, maxTokens: number) =>
  inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens })
const samplingText = (result: { content: unknown }) => {
  const content = result.content as { type?: string, text?: string }
  return content.type === 'text' ? String(content.text) : JSON.stringify(content)
}

export const fixtureInputTools: AnyTool[] = [
  defineTool({
    ...base,
    name: 'test_missing_capability',
    title: 'Missing capability',
    description: 'Conformance fixture: asks for a sampling request, which the SDK refuses (-32021) when the client did not declare sampling.',
    handler: async (_args, ctx) => await ctx.input.required({ inputRequests: { question: sample('hi', 10) } })
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_elicitation',
    title: 'Input required: elicitation',
    description: 'Conformance fixture: asks for a name, then greets; asks again when the answer is missing.',
    handler: async (_args, ctx) => {
      const answer = ctx.input.accepted('user_name', z.object({ name: z.string() }))
      if (answer !== undefined) return text(`Hello, ${answer.name}!`)
      return await ctx.input.required({ inputRequests: { user_name: askName() } })
    }
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_sampling',
    title: 'Input required: sampling',
    description: 'Conformance fixture: asks the client\'s model a question, then returns its answer.',
    handler: async (_args, ctx) => {
      const answer = ctx.input.response('capital_question')
      if (answer.kind === 'sampling') return text(`The model said: ${samplingText(answer.result)}`)
      return await ctx.input.required({ inputRequests: { capital_question: sample('What is the capital of France?', 100) } })
    }
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_list_roots',
    title: 'Input required: roots',
    description: 'Conformance fixture: asks for the client\'s roots, then lists them.',
    handler: async (_args, ctx) => {
      const answer = ctx.input.response('client_roots')
      if (answer.kind === 'roots') return text(`Roots: ${answer.roots.map(root => root.uri).join(', ')}`)
      return await ctx.input.required({ inputRequests: { client_roots: inputRequired.listRoots() } })
    }
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_request_state',
    title: 'Input required: request state',
    description: 'Conformance fixture: asks for a confirmation with state, then says state-ok once the state came back verified.',
    handler: async (_args, ctx) => {
      if (ctx.input.state<{ round: number }>()?.round === 1 && ctx.input.response('confirm').kind === 'elicit') return text('state-ok')
      return await ctx.input.required({
        inputRequests: { confirm: inputRequired.elicit({ message: 'Please confirm', requestedSchema: schemaOf('ok', 'boolean') }) },
        state: { round: 1 }
      })
    }
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_multi_round',
    title: 'Input required: two rounds',
    description: 'Conformance fixture: asks for a name, then a colour, then answers with both.',
    handler: async (_args, ctx) => {
      const state = ctx.input.state<{ round: number, name?: string }>()
      if (state?.round === 2) {
        const color = ctx.input.accepted('step2', z.object({ color: z.string() }))
        if (color !== undefined) return text(`${state.name ?? 'You'} likes ${color.color}.`)
      }
      const name = state?.round === 1 ? ctx.input.accepted('step1', z.object({ name: z.string() })) : undefined
      if (name !== undefined) {
        return await ctx.input.required({
          inputRequests: { step2: inputRequired.elicit({ message: 'Step 2: What is your favorite color?', requestedSchema: schemaOf('color') }) },
          state: { round: 2, name: name.name }
        })
      }
      return await ctx.input.required({ inputRequests: { step1: askName('Step 1: What is your name?') }, state: { round: 1 } })
    }
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_multiple_inputs',
    title: 'Input required: three inputs',
    description: 'Conformance fixture: asks for a name, a model greeting and the roots at once.',
    handler: async (_args, ctx) => {
      const keys = ['user_name', 'greeting', 'client_roots']
      if (ctx.input.state<{ multi: true }>()?.multi === true && keys.every(key => ctx.input.response(key).kind !== 'missing')) {
        return text('Received all three inputs.')
      }
      return await ctx.input.required({
        inputRequests: { user_name: askName(), greeting: sample('Generate a greeting', 50), client_roots: inputRequired.listRoots() },
        state: { multi: true }
      })
    }
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_capabilities',
    title: 'Input required: declared capabilities only',
    description: 'Conformance fixture: asks only for what the client declared it can answer.',
    handler: async (_args, ctx) => {
      const declared = ctx.input.clientCapabilities()
      const inputRequests: Record<string, ReturnType<typeof askName>> = {}
      if (declared.sampling !== undefined) inputRequests.question = sample('hi', 10)
      if (declared.elicitation !== undefined) inputRequests.user_name = askName()
      if (declared.roots !== undefined) inputRequests.client_roots = inputRequired.listRoots()
      return await ctx.input.required({ inputRequests, state: { capabilities: Object.keys(inputRequests) } })
    }
  }),
  defineTool({
    ...base,
    name: 'test_input_required_result_tampered_state',
    title: 'Input required: signed state',
    description: 'Conformance fixture: returns signed state; a tampered one is refused with -32602 before this runs.',
    handler: async (_args, ctx) => {
      if (ctx.input.state<{ signed: true }>()?.signed === true) return text('state verified')
      return await ctx.input.required({ inputRequests: { user_name: askName() }, state: { signed: true } })
    }
  })
]
