import * as z from 'zod'
import { defineTool, ToolError } from '../registry.ts'

const FIELDS = ['id', 'displayName', 'givenName', 'surname', 'userPrincipalName', 'mail', 'jobTitle', 'department', 'officeLocation', 'mobilePhone', 'businessPhones', 'preferredLanguage']

export default defineTool({
  name: 'graph_me',
  title: 'My Microsoft Graph profile',
  description: 'Fetches the signed-in user\'s profile from Microsoft Graph (/me): display name, user principal name, mail, job title, department, office and phones.',
  inputSchema: z.object({}),
  outputSchema: z.object({
    id: z.string(),
    displayName: z.string().optional(),
    givenName: z.string().optional(),
    surname: z.string().optional(),
    userPrincipalName: z.string().optional(),
    mail: z.string().optional(),
    jobTitle: z.string().optional(),
    department: z.string().optional(),
    officeLocation: z.string().optional(),
    mobilePhone: z.string().optional(),
    businessPhones: z.array(z.string()),
    preferredLanguage: z.string().optional()
  }),
  scopes: ['graph.read'],
  annotations: { readOnlyHint: true, openWorldHint: true },
  async handler (_args, { graph, signal }) {
    const res = await graph(`/me?$select=${FIELDS.join(',')}`, { signal })
    if (res.status === 401 || res.status === 403) {
      throw new ToolError('Microsoft Graph refused the request: the sign-in grant lacks consent for Microsoft Graph (User.Read). Sign in again and accept the Microsoft Graph permission, or ask an administrator to grant consent.')
    }
    if (res.status === 404) throw new ToolError('Microsoft Graph has no profile for this account (/me not found).')
    if (res.status < 200 || res.status >= 300) throw new ToolError(`Microsoft Graph answered HTTP ${res.status}; try again later.`)
    const me = (res.body ?? {}) as Record<string, unknown>
    if (typeof me.id !== 'string') throw new ToolError('Microsoft Graph returned an unexpected answer for /me.')
    const text = (name: string) => typeof me[name] === 'string' ? me[name] as string : undefined
    return {
      id: me.id,
      displayName: text('displayName'),
      givenName: text('givenName'),
      surname: text('surname'),
      userPrincipalName: text('userPrincipalName'),
      mail: text('mail'),
      jobTitle: text('jobTitle'),
      department: text('department'),
      officeLocation: text('officeLocation'),
      mobilePhone: text('mobilePhone'),
      businessPhones: Array.isArray(me.businessPhones) ? me.businessPhones.filter((p): p is string => typeof p === 'string') : [],
      preferredLanguage: text('preferredLanguage')
    }
  }
})
