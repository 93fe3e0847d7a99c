import { missingScopes, stepUpScopes } from '../../plugins/jwt-verify/rules.ts'
import type { AnyTool } from '../registry.ts'
import { definePrompt } from '../catalog.ts'

const line = (tool: AnyTool, extra = '') => `- ${tool.name} (${tool.title}): ${tool.description}${extra}`
const scopeList = (scopes: readonly string[]) => scopes.length > 0 ? scopes.join(' ') : '(none)'

export default definePrompt({
  name: 'available-tools',
  title: 'Which tools can I use?',
  description: 'Explains which of this gateway\'s tools the current sign-in allows, which need another sign-in granting more scopes, and why.',
  scopes: ['tools.read'],
  get ({ identity, service }) {
    const offered = new Set(service.offeredScopes)
    const ready: string[] = []
    const stepUp: string[] = []
    const never: string[] = []
    const stepUpNeeds: string[] = []
    for (const tool of service.tools()) {
      const missing = missingScopes(identity, tool.scopes)
      if (missing.length === 0) ready.push(line(tool))
      else if (missing.every(s => offered.has(s))) {
        stepUp.push(line(tool, ` Needs the scope${missing.length > 1 ? 's' : ''} ${missing.join(' ')}.`))
        stepUpNeeds.push(...missing)
      } else {
        never.push(line(tool, ` Needs ${missing.filter(s => !offered.has(s)).join(' ')}, which a sign-in here cannot grant (an administrator must assign it as an app role).`))
      }
    }
    const who = identity.preferredUsername ?? identity.name ?? identity.oid ?? identity.sub
    const parts = [
      `You are connected to an MCP gateway that runs tools as the signed-in Microsoft Entra ID user ${who}. Each tool needs OAuth scopes; the current sign-in grants: ${scopeList(identity.scopes)}${identity.roles.length > 0 ? ` (app roles: ${identity.roles.join(' ')})` : ''}.`,
      `Tools you may call now:\n${ready.length > 0 ? ready.join('\n') : '(none)'}`
    ]
    if (stepUp.length > 0) {
      parts.push(`Tools that need another sign-in (step-up) first:\n${stepUp.join('\n')}\n` +
        `Calling one of these now is refused with HTTP 403 insufficient_scope; the MCP client then asks the user to sign in again and consent to ${scopeList(stepUpScopes(identity, stepUpNeeds))}. ` +
        'Tell the user why before you call one, and do not retry a refused call without that new sign-in.')
    }
    if (never.length > 0) parts.push(`Tools this user cannot get by signing in:\n${never.join('\n')}`)
    return parts.join('\n\n')
  }
})
