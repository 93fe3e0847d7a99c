import * as z from 'zod'
import { defineTool, ToolError } from '../registry.ts'

const iso = (seconds: unknown) => typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : undefined
const str = (value: unknown) => typeof value === 'string' ? value : undefined

/** The checks as a list of names with a verdict, whatever shape the verifier reported them in. */
function checkList (checks: unknown): Array<{ check: string, passed: boolean }> {
  if (Array.isArray(checks)) {
    return checks.map(c => typeof c === 'string'
      ? { check: c, passed: true }
      : { check: String((c as { name?: unknown, check?: unknown }).name ?? (c as { check?: unknown }).check), passed: (c as { passed?: unknown }).passed !== false })
  }
  if (typeof checks === 'object' && checks !== null) {
    return Object.entries(checks).map(([check, passed]) => ({ check, passed: passed === true }))
  }
  return []
}

export default defineTool({
  name: 'validate_token',
  title: 'Validate my token',
  description: 'Reports how the bearer token of this request was validated: issuer, audience, key id, algorithm, issued and expiry times, seconds left, scopes and each check that passed. The token itself is never shown.',
  inputSchema: z.object({}),
  outputSchema: z.object({
    valid: z.boolean(),
    token_kind: z.enum(['self', 'entra']),
    issuer: z.string().optional(),
    audience: z.union([z.string(), z.array(z.string())]).optional(),
    kid: z.string().optional(),
    algorithm: z.string().optional(),
    issued_at: z.string().optional(),
    not_before: z.string().optional(),
    expires_at: z.string().optional(),
    seconds_left: z.number().int(),
    scopes: z.array(z.string()),
    roles: z.array(z.string()),
    checks: z.array(z.object({ check: z.string(), passed: z.boolean() }))
  }),
  scopes: ['tools.read'],
  annotations: { readOnlyHint: true, openWorldHint: false },
  handler (_args, { identity, tokenReport }) {
    if (tokenReport === undefined) throw new ToolError('No validation report is available for this request.')
    const r = tokenReport as Record<string, unknown>
    const exp = typeof r.exp === 'number' ? r.exp : identity.expiresAt
    const audience = Array.isArray(r.audience) ? r.audience.map(String) : str(r.audience)
    return {
      valid: true,
      token_kind: identity.kind,
      issuer: str(r.issuer),
      audience,
      kid: str(r.kid),
      algorithm: str(r.alg ?? r.algorithm),
      issued_at: iso(r.iat),
      not_before: iso(r.nbf),
      expires_at: iso(exp),
      seconds_left: Math.max(0, exp - Math.floor(Date.now() / 1000)),
      scopes: [...identity.scopes],
      roles: [...identity.roles],
      checks: checkList(r.checks ?? r.checksPassed)
    }
  }
})
