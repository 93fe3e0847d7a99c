import * as z from 'zod'
import { defineTool } from '../registry.ts'

export default defineTool({
  name: 'whoami',
  title: 'Who am I',
  description: 'Shows who is calling: name, username, object and tenant ids, granted scopes and roles, client application, token kind and expiry.',
  inputSchema: z.object({}),
  outputSchema: z.object({
    name: z.string().optional(),
    username: z.string().optional(),
    email: z.string().optional(),
    subject: z.string(),
    oid: z.string().optional(),
    tid: z.string().optional(),
    scopes: z.array(z.string()),
    roles: z.array(z.string()),
    client_id: z.string().optional(),
    token_kind: z.enum(['self', 'entra']).describe('self: issued by this server; entra: an Entra ID access token for this API'),
    expires_at: z.string().describe('ISO 8601'),
    expires_in_seconds: z.number().int()
  }),
  scopes: ['tools.read'],
  annotations: { readOnlyHint: true, openWorldHint: false },
  handler (_args, { identity }) {
    return {
      name: identity.name,
      username: identity.preferredUsername,
      email: identity.email,
      subject: identity.sub,
      oid: identity.oid,
      tid: identity.tid,
      scopes: [...identity.scopes],
      roles: [...identity.roles],
      client_id: identity.clientId,
      token_kind: identity.kind,
      expires_at: new Date(identity.expiresAt * 1000).toISOString(),
      expires_in_seconds: Math.max(0, identity.expiresAt - Math.floor(Date.now() / 1000))
    }
  }
})
