import * as z from 'zod'
import { inputRequired } from '@modelcontextprotocol/server'
import { defineTool, ToolError, type ToolContext } from '../registry.ts'

const QUESTION = 'confirm_end_sign_in'
const answerSchema = z.object({ confirm: z.boolean() })
const outputSchema = z.object({
  revoked: z.boolean().describe('true: the sign-in has ended; false: nothing changed'),
  message: z.string()
})
type Output = z.infer<typeof outputSchema>

const ended: Output = {
  revoked: true,
  message: 'Your sign-in has ended: every access and refresh token of it stops working now. Sign in again to use the tools.'
}
const kept: Output = { revoked: false, message: 'Not confirmed: your sign-in is unchanged.' }

async function end (ctx: ToolContext): Promise<Output> {
  if (!await ctx.endOwnSignIn()) throw new ToolError('This token was not issued by this service (an Entra ID token): there is no sign-in here to end.')
  return ended
}

/**
 * 2026-07-28 with a client that can elicit: ask, then act on the retry that carries a yes and the
 * state of the question (signed, bound to this caller and tool, 5 minutes).
 */
async function confirmByElicitation (ctx: ToolContext) {
  if (ctx.input.state<{ asked: true }>()?.asked === true) {
    // Declined, cancelled, or accepted with anything but a yes: nothing happens.
    if (ctx.input.response(QUESTION).kind === 'elicit') return ctx.input.accepted(QUESTION, answerSchema)?.confirm === true ? await end(ctx) : kept
  }
  return await ctx.input.required({
    inputRequests: {
      [QUESTION]: inputRequired.elicit({
        message: 'End your sign-in to this MCP server? Every token of it stops working, in every client using it; you would sign in again.',
        requestedSchema: { type: 'object', properties: { confirm: { type: 'boolean', title: 'End my sign-in', description: 'Yes: end it now' } }, required: ['confirm'] }
      })
    },
    state: { asked: true }
  })
}

export default defineTool({
  name: 'revoke_my_sign_in',
  title: 'End my sign-in',
  description: 'Ends your own sign-in to this server (the grant behind your token): every access and refresh token of it stops working. ' +
    'Asks you to confirm first: 2026-07-28 clients that support elicitation get a yes/no question; other clients must pass confirm: true.',
  inputSchema: z.object({
    confirm: z.boolean().optional().describe('For clients that cannot answer a question (2025 protocol or no elicitation): true confirms. Ask the user first.')
  }),
  outputSchema,
  scopes: ['tools.write'],
  annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
  async handler ({ confirm }, ctx) {
    if (ctx.identity.kind !== 'self' || ctx.identity.grantId === undefined) return await end(ctx)
    if (ctx.input.available && ctx.input.clientCapabilities().elicitation !== undefined) return await confirmByElicitation(ctx)
    if (confirm === true) return await end(ctx)
    throw new ToolError('Ending your sign-in needs a confirmation, and this client cannot be asked a question. Ask the user; if they agree, call revoke_my_sign_in again with confirm: true.')
  }
})
