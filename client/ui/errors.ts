import { AuthorizationServerMismatchError, InsufficientScopeError, IssuerMismatchError, OAuthError, SdkErrorCode, SdkHttpError } from '@modelcontextprotocol/client'

/** Exit codes of the CLI (documented in docs/client.md). */
export const EXIT = {
  ok: 0,
  error: 1,
  usage: 2,
  auth: 3,
  unreachable: 4
} as const

export type ErrorKind =
  | 'usage'
  | 'not_logged_in'
  | 'signin_cancelled'
  | 'signin_timeout'
  | 'signin_failed'
  | 'session_expired'
  | 'scope_refused'
  | 'server_unreachable'
  | 'server_error'
  | 'tool_error'
  | 'agent_error'
  | 'no_api_key'

const EXIT_FOR: Record<ErrorKind, number> = {
  usage: EXIT.usage,
  not_logged_in: EXIT.auth,
  signin_cancelled: EXIT.auth,
  signin_timeout: EXIT.auth,
  signin_failed: EXIT.auth,
  session_expired: EXIT.auth,
  scope_refused: EXIT.auth,
  server_unreachable: EXIT.unreachable,
  server_error: EXIT.error,
  tool_error: EXIT.error,
  agent_error: EXIT.error,
  no_api_key: EXIT.usage
}

/** How a person runs this CLI when none is known: the bin that `npm run build` makes. */
export const DEFAULT_PROGRAM = 'entra-mcp-client'

/** The command that signs in again, as the person runs this CLI (`program`). */
export const loginCommand = (program: string, server: string) => `\`${program} login --server ${server}\``

/** An error the CLI reports as one readable line (never a stack trace). */
export class CliError extends Error {
  readonly kind: ErrorKind
  readonly exitCode: number
  constructor (kind: ErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CliError'
    this.kind = kind
    this.exitCode = EXIT_FOR[kind]
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'])

/** An error and the errors of its `cause` chain, each once. */
export function * causes (err: unknown): Generator<unknown> {
  const seen = new Set<unknown>()
  let current: unknown = err
  while (current !== undefined && current !== null && !seen.has(current)) {
    seen.add(current)
    yield current
    current = (current as { cause?: unknown }).cause
  }
}

/** Finds a network failure (connection refused, DNS, TLS) anywhere in an error's cause chain. */
export function networkErrorCode (err: unknown): string | undefined {
  let fetchFailed = false
  for (const e of causes(err)) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code
    // AggregateError (happy eyeballs: several addresses tried) keeps the per-address errors in `errors`.
    for (const inner of (e as { errors?: unknown[] }).errors ?? []) {
      const innerCode = (inner as { code?: unknown }).code
      if (typeof innerCode === 'string' && NETWORK_CODES.has(innerCode)) return innerCode
    }
    if (e instanceof TypeError && e.message === 'fetch failed') fetchFailed = true
  }
  return fetchFailed ? 'fetch failed' : undefined
}

/** Turns any error into a CliError that names its cause in one line. */
export function toCliError (err: unknown, server: string): CliError {
  if (err instanceof CliError) return err
  if (err instanceof InsufficientScopeError) {
    return new CliError('scope_refused', `The server requires scopes that were not granted: ${err.requiredScope ?? '(not named)'}`)
  }
  // A mix-up defence tripped (RFC 9207 `iss`, RFC 8414 issuer echo, SEP-2352 binding). The value
  // received may be an attacker's: name what was expected, never what came back.
  if (err instanceof IssuerMismatchError) {
    return new CliError('signin_failed', `The sign-in response did not come from the expected authorization server (${err.expected ?? 'unknown'}); nothing was exchanged.`, { cause: err })
  }
  if (err instanceof AuthorizationServerMismatchError) {
    return new CliError('signin_failed', `The server now names another authorization server than the one this sign-in started with (${err.recordedIssuer}); run \`login\` again.`, { cause: err })
  }
  const net = networkErrorCode(err)
  if (net !== undefined) {
    return new CliError('server_unreachable', `Cannot reach the server at ${server} (${net}). Is it running, and is --server right?`, { cause: err })
  }
  const name = (err as { name?: string })?.name
  const message = err instanceof Error ? err.message : String(err)
  // A 401 again after the SDK refreshed (or could not): the sign-in is of no use any more.
  if (name === 'UnauthorizedError' || (err instanceof SdkHttpError && err.code === SdkErrorCode.ClientHttpAuthentication)) {
    return new CliError('session_expired', `The server refused the sign-in for ${server}; run \`login\` again.`, { cause: err })
  }
  // OAuth errors from the SDK carry an RFC 6749 code (`code` in SDK v2, `errorCode` before).
  const errorCode = err instanceof OAuthError ? err.code : (err as { errorCode?: unknown })?.errorCode
  if (typeof errorCode === 'string') {
    if (errorCode === 'invalid_scope') return new CliError('scope_refused', `The server refused the requested scopes: ${message}`, { cause: err })
    if (errorCode === 'access_denied') return new CliError('signin_cancelled', `Sign-in was cancelled or denied: ${message}`, { cause: err })
    if (errorCode === 'invalid_grant') return new CliError('session_expired', `The sign-in for ${server} has expired or was revoked; run \`login\` again.`, { cause: err })
    return new CliError('signin_failed', `The authorization server answered ${errorCode}: ${message}`, { cause: err })
  }
  return new CliError('server_error', message.split('\n')[0] ?? 'unknown error', { cause: err })
}
