// One @fastify/error per OAuth error code the service answers (RFC 6749 §5.2, RFC 7009, RFC 7591
// §3.2.2, RFC 8707 §2). Throw `new InvalidGrantError('why')`; the error handler (plugins/errors.ts)
// answers `{ error, error_description }` with the class's status and any headers given.
import createError from '@fastify/error'

export const OAUTH_ERROR_CODES = [
  'invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type',
  'invalid_scope', 'invalid_target', 'invalid_redirect_uri', 'invalid_client_metadata',
  'temporarily_unavailable', 'server_error'
] as const
export type OAuthErrorCode = typeof OAUTH_ERROR_CODES[number]

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

export const InvalidRequestError = oauthErrorClass('invalid_request', 400)
export const InvalidClientError = oauthErrorClass('invalid_client', 401)
export const InvalidGrantError = oauthErrorClass('invalid_grant', 400)
export const UnauthorizedClientError = oauthErrorClass('unauthorized_client', 400)
export const UnsupportedGrantTypeError = oauthErrorClass('unsupported_grant_type', 400)
export const InvalidScopeError = oauthErrorClass('invalid_scope', 400)
export const InvalidTargetError = oauthErrorClass('invalid_target', 400)
export const InvalidRedirectUriError = oauthErrorClass('invalid_redirect_uri', 400)
export const InvalidClientMetadataError = oauthErrorClass('invalid_client_metadata', 400)
export const TemporarilyUnavailableError = oauthErrorClass('temporarily_unavailable', 503)
/** A 500 whose description is meant for the client (an upstream refusal the operator must fix). */
export const ServerError = oauthErrorClass('server_error', 500)

const byCode: Record<OAuthErrorCode, OAuthErrorClass> = {
  invalid_request: InvalidRequestError,
  invalid_client: InvalidClientError,
  invalid_grant: InvalidGrantError,
  unauthorized_client: UnauthorizedClientError,
  unsupported_grant_type: UnsupportedGrantTypeError,
  invalid_scope: InvalidScopeError,
  invalid_target: InvalidTargetError,
  invalid_redirect_uri: InvalidRedirectUriError,
  invalid_client_metadata: InvalidClientMetadataError,
  temporarily_unavailable: TemporarilyUnavailableError,
  server_error: ServerError
}

/** The error for a code decided at run time (registration's checks name theirs). */
export function oauthErrorFor (code: OAuthErrorCode, description: string): OAuthError {
  return new byCode[code](description)
}

export function isOAuthError (err: unknown): err is OAuthError {
  return err instanceof Error && typeof (err as Partial<OAuthError>).oauthError === 'string' &&
    (err as Partial<OAuthError>).code?.startsWith('FST_OAUTH_') === true
}
