// Field names whose values are secrets. A caller passing one by mistake gets it masked, in the
// log line and in the stream alike (the logger's redaction only reaches nested paths).
export const SECRET_NAMES = ['access_token', 'refresh_token', 'id_token', 'token', 'code', 'code_verifier', 'client_secret', 'client_assertion', 'assertion', 'password', 'secret', 'authorization', 'cookie', 'set-cookie', 'state']
const SECRET_FIELD = new RegExp(`^(?:${SECRET_NAMES.join('|')})$`, 'i')

/** A copy of audit fields with any secret-named field masked, at any depth. */
export function maskSecrets (value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > 5) return value
  if (Array.isArray(value)) return value.map(v => maskSecrets(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    out[k] = SECRET_FIELD.test(k) && v !== undefined && v !== null ? '[Redacted]' : maskSecrets(v, depth + 1)
  }
  return out
}
