// One @fastify/error per OAuth error code the service answers (RFC 6749 §5.2, RFC 7009, RFC 7591
// §3.2.2, RFC 8707 §2, RFC 8628 §3.5). Throw `new InvalidGrantError('why')`; the error handler (plugins/errors.ts)
// answers `{ error, error_description }` with the class's status and any headers given.
import createError from '@fastify/error'

// Each code the service answers with, and its HTTP status: the one list the classes below are made from.
const STATUS = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  invalid_target: 400,
  invalid_redirect_uri: 400,
  invalid_client_metadata: 400,
  // RFC 8628 §3.5: the device grant's answers while the user has not finished, or when they will not.
  authorization_pending: 400,
  slow_down: 400,
  access_denied: 400,
  expired_token: 400,
  temporarily_unavailable: 503,
  server_error: 500
} as const
export type OAuthErrorCode = keyof typeof STATUS

/** What every OAuth error carries besides Fastify's `code`, `statusCode` and `message` (the description). */
export interface OAuthError extends Error {
  readonly code: string
  readonly statusCode: number
  readonly oauthError: OAuthErrorCode
  /** Extra answer headers: `WWW-Authenticate` for invalid_client, `Retry-After` for temporarily_unavailable. */
  readonly headers?: Record<string, string>
}

export type OAuthErrorClass = new (description: string, headers?: Record<string, string>) => OAuthError

function oauthErrorClass (oauthError: OAuthErrorCode, statusCode: number): OAuthErrorClass {
  const Base = createError<[string]>(`FST_OAUTH_${oauthError.toUpperCase()}`, '%s', statusCode)
  return class extends Base implements OAuthError {
    readonly oauthError = oauthError
    readonly headers?: Record<string, string>
    declare readonly statusCode: number
    constructor (description: string, headers?: Record<string, string>) {
      super(description)
      this.headers = headers
    }
  }
}

const byCode = Object.fromEntries(
  Object.entries(STATUS).map(([code, status]) => [code, oauthErrorClass(code as OAuthErrorCode, status)])
) as Record<OAuthErrorCode, OAuthErrorClass>

export const InvalidRequestError = byCode.invalid_request
export const InvalidClientError = byCode.invalid_client
export const InvalidGrantError = byCode.invalid_grant
export const UnauthorizedClientError = byCode.unauthorized_client
export const UnsupportedGrantTypeError = byCode.unsupported_grant_type
export const InvalidScopeError = byCode.invalid_scope
export const InvalidTargetError = byCode.invalid_target
export const InvalidRedirectUriError = byCode.invalid_redirect_uri
export const InvalidClientMetadataError = byCode.invalid_client_metadata
export const AuthorizationPendingError = byCode.authorization_pending
export const SlowDownError = byCode.slow_down
export const AccessDeniedError = byCode.access_denied
export const ExpiredTokenError = byCode.expired_token
export const TemporarilyUnavailableError = byCode.temporarily_unavailable
/** A 500 whose description is meant for the client (an upstream refusal the operator must fix). */
export const ServerError = byCode.server_error

/** The error for a code decided at run time (registration's checks name theirs). */
export function oauthErrorFor (code: OAuthErrorCode, description: string): OAuthError {
  return new byCode[code](description)
}

export function isOAuthError (err: unknown): err is OAuthError {
  return err instanceof Error && typeof (err as Partial<OAuthError>).oauthError === 'string' &&
    (err as Partial<OAuthError>).code?.startsWith('FST_OAUTH_') === true
}
