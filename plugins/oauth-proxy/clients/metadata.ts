// Client metadata rules (RFC 7591 §2) for dynamic registration and client ID metadata documents.
// Pure functions: no Fastify, no I/O.
import { hasControlOrSpace, redirectUriProblem } from '../../shared/redirect-uris.ts'
import { requestedScopes } from '../authorize/requested-scopes.ts'
import { jwksUriProblem, parseClientJwks, type ClientJwks } from '../client-auth/client-jwks.ts'

export type TokenEndpointAuthMethod = 'none' | 'client_secret_post' | 'client_secret_basic' | 'private_key_jwt'
/** What POST /register accepts. */
export const TOKEN_ENDPOINT_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['none', 'client_secret_post', 'client_secret_basic']
/** What a client ID metadata document may declare: a public client, or RFC 7523 keys (ChatGPT). */
export const METADATA_DOCUMENT_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = ['none', 'private_key_jwt']
/** Every method /token and /revoke accept (discovery). */
export const SUPPORTED_AUTH_METHODS: readonly TokenEndpointAuthMethod[] = [...TOKEN_ENDPOINT_AUTH_METHODS, 'private_key_jwt']
/** RFC 8628 §3.4: the device authorization grant's grant_type. */
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
export const GRANT_TYPES = ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT] as const
export const RESPONSE_TYPES = ['code'] as const
/** OpenID Connect Dynamic Client Registration 1.0 §2 application types (MCP SEP-837). */
export const APPLICATION_TYPES = ['native', 'web'] as const
export type ApplicationType = typeof APPLICATION_TYPES[number]

/** A client the service knows: registered through POST /register, or read from its metadata document. */
export interface ClientRecord {
  client_id: string
  /** base64url SHA-256 of the secret (confidential registered clients only). */
  client_secret_hash?: string
  /** Epoch seconds; 0 or absent: the secret does not expire. */
  client_secret_expires_at?: number
  token_endpoint_auth_method: TokenEndpointAuthMethod
  /** private_key_jwt (metadata documents): where the client publishes its public keys (https)... */
  jwks_uri?: string
  /** ...or the keys themselves, from the document (exactly one of the two). */
  jwks?: ClientJwks
  redirect_uris: string[]
  /** `web` when a registration leaves it out (OIDC default); as written in a metadata document, if at all. Informative only. */
  application_type?: ApplicationType
  client_name?: string
  client_uri?: string
  logo_uri?: string
  grant_types: string[]
  response_types: string[]
  /** Space-separated scopes the client may ask for (a subset of MCP_SCOPES). */
  scope?: string
  client_id_issued_at: number
  source: 'registered' | 'metadata_document'
}

/** The metadata the client chose, before the server adds its identifiers. */
export type ClientMetadata = Pick<ClientRecord, 'token_endpoint_auth_method' | 'jwks_uri' | 'jwks' | 'redirect_uris' | 'application_type' | 'client_name' | 'client_uri' | 'logo_uri' | 'grant_types' | 'response_types' | 'scope'>

export type MetadataErrorCode = 'invalid_redirect_uri' | 'invalid_client_metadata'
export type MetadataResult =
  | { ok: true, metadata: ClientMetadata }
  | { ok: false, error: MetadataErrorCode, description: string }

export interface MetadataRules {
  /** Scopes this server offers (MCP_SCOPES). */
  scopes: readonly string[]
  /** ALLOWED_REDIRECT_URIS: when not empty, every redirect URI must match one of them. */
  allowedRedirectUris: readonly string[]
  /** ALLOWED_REDIRECT_SCHEMES: private-use schemes of native apps accepted besides https and loopback http. */
  redirectSchemes?: readonly string[]
  /** Metadata documents: public or private_key_jwt clients, and scopes outside the offer are dropped instead of refused. */
  metadataDocument?: boolean
}

export const LIMITS = {
  redirectUris: 20,
  clientName: 200,
  uri: 2000
} as const

const hasControl = (value: string) => [...value].some(c => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)

function fail (error: MetadataErrorCode, description: string): Extract<MetadataResult, { ok: false }> {
  return { ok: false, error, description }
}

function stringList (value: unknown): string[] | null {
  if (!Array.isArray(value) || !value.every(v => typeof v === 'string')) return null
  return [...new Set(value as string[])]
}

function webUriProblem (name: string, value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0) return `${name} must be a non-empty string`
  if (value.length > LIMITS.uri) return `${name} must be at most ${LIMITS.uri} characters`
  if (hasControlOrSpace(value) || !URL.canParse(value)) return `${name} must be an absolute URL`
  const url = new URL(value)
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `${name} must be an http(s) URL`
  if (url.username !== '' || url.password !== '') return `${name} must not contain user information`
  return null
}

type Failure = Extract<MetadataResult, { ok: false }>
const failed = (value: unknown): value is Failure => typeof value === 'object' && value !== null && (value as Failure).ok === false

/**
 * Validates and normalises client metadata. Defaults follow RFC 7591 §2: grant_types
 * ["authorization_code"], response_types ["code"] ([] for a device-only client, which also needs no
 * redirect_uris), token_endpoint_auth_method "client_secret_basic"
 * (MCP clients normally send "none"); metadata documents default to "none" and may declare
 * "private_key_jwt" with their keys (jwks_uri or jwks); registration offers no private_key_jwt.
 * `application_type` (OIDC Registration §2, MCP SEP-837) is `native` or `web`, `web` when a
 * registration leaves it out; a metadata document keeps what it says. Unknown members are
 * ignored, as RFC 7591 §2 permits. The checks run in this order, and the first that fails is the answer.
 */
export function validateClientMetadata (input: unknown, rules: MetadataRules): MetadataResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return fail('invalid_client_metadata', 'the client metadata must be a JSON object')
  const body = input as Record<string, unknown>
  const doc = rules.metadataDocument === true

  const redirectUris = checkRedirectUris(body.redirect_uris, rules, !deviceOnly(body.grant_types))
  if (failed(redirectUris)) return redirectUris
  const auth = checkAuthMethod(body, doc)
  if (failed(auth)) return auth
  const types = checkTypes(body)
  if (failed(types)) return types
  const applicationType = checkApplicationType(body.application_type, doc)
  if (failed(applicationType)) return applicationType

  const metadata: ClientMetadata = {
    token_endpoint_auth_method: auth.method,
    ...auth.keys,
    redirect_uris: redirectUris,
    ...(applicationType !== undefined ? { application_type: applicationType } : {}),
    grant_types: types.grantTypes,
    response_types: types.responseTypes
  }
  const scope = checkScope(body.scope, rules.scopes, doc)
  if (failed(scope)) return scope
  if (scope !== undefined) metadata.scope = scope
  const display = checkDisplay(body)
  if (failed(display)) return display
  return { ok: true, metadata: { ...metadata, ...display } }
}

/**
 * Whether the metadata describes a device-only client: grant_types lists the device grant and not
 * authorization_code. Anything else (left out: RFC 7591 §2 default; not a list; no grant that
 * obtains tokens) is held to the code flow's rules, and checkTypes refuses what is wrong with it.
 */
function deviceOnly (grantTypes: unknown): boolean {
  return Array.isArray(grantTypes) && grantTypes.includes(DEVICE_CODE_GRANT) && !grantTypes.includes('authorization_code')
}

/**
 * redirect_uris: required for the authorization code grant, each one registrable. A device-only
 * client (RFC 8628: no browser on its side) has no redirect-based flow, so it registers none; one
 * that lists redirect URIs anyway is refused rather than given URIs no flow of it may use.
 */
function checkRedirectUris (value: unknown, rules: MetadataRules, codeFlow: boolean): string[] | Failure {
  if (value === undefined) return codeFlow ? fail('invalid_redirect_uri', 'redirect_uris is required') : []
  const redirectUris = stringList(value)
  if (redirectUris === null) return fail('invalid_redirect_uri', 'redirect_uris must be an array of strings')
  if (!codeFlow) {
    if (redirectUris.length === 0) return []
    return fail('invalid_client_metadata', 'redirect_uris are used only by the authorization_code grant, which grant_types does not list: a device-only client registers none')
  }
  if (redirectUris.length === 0) return fail('invalid_redirect_uri', 'redirect_uris must list at least one URI')
  if (redirectUris.length > LIMITS.redirectUris) return fail('invalid_redirect_uri', `redirect_uris may list at most ${LIMITS.redirectUris} URIs`)
  for (const uri of redirectUris) {
    const problem = redirectUriProblem(uri, rules.allowedRedirectUris, rules.redirectSchemes)
    if (problem !== null) return fail('invalid_redirect_uri', problem)
  }
  return redirectUris
}

/** token_endpoint_auth_method, and a private_key_jwt metadata document's keys. */
function checkAuthMethod (body: Record<string, unknown>, doc: boolean): { method: TokenEndpointAuthMethod, keys: Pick<ClientMetadata, 'jwks_uri' | 'jwks'> } | Failure {
  const method = body.token_endpoint_auth_method ?? (doc ? 'none' : 'client_secret_basic')
  if (typeof method !== 'string') return fail('invalid_client_metadata', 'token_endpoint_auth_method must be a string')
  let keys: Pick<ClientMetadata, 'jwks_uri' | 'jwks'> = {}
  if (doc) {
    if (!(METADATA_DOCUMENT_AUTH_METHODS as readonly string[]).includes(method)) {
      return fail('invalid_client_metadata', `token_endpoint_auth_method "${method}" is not supported for client ID metadata documents: only "none" (public clients) and "private_key_jwt" (RFC 7523, with jwks_uri or jwks)`)
    }
    if (body.client_secret !== undefined || body.client_secret_expires_at !== undefined) {
      return fail('invalid_client_metadata', 'a client ID metadata document must not contain client_secret or client_secret_expires_at')
    }
    if (method === 'private_key_jwt') {
      const checked = clientKeys(body.jwks_uri, body.jwks)
      if (typeof checked === 'string') return fail('invalid_client_metadata', checked)
      keys = checked
    }
  } else if (!(TOKEN_ENDPOINT_AUTH_METHODS as readonly string[]).includes(method)) {
    return fail('invalid_client_metadata', `token_endpoint_auth_method must be one of: ${TOKEN_ENDPOINT_AUTH_METHODS.join(', ')}`)
  }
  return { method: method as TokenEndpointAuthMethod, keys }
}

/**
 * grant_types and response_types, consistent with each other (RFC 7591 §2.1). Grant and response
 * types this server does not offer are dropped, not refused (RFC 7591 §2 lets the server register
 * less and answer with what it kept): claude.ai's metadata document lists the jwt-bearer grant;
 * refusing it stopped it at /authorize. The device grant (VS Code's document lists it) is kept.
 * A client needs a grant that obtains tokens: authorization_code, the device grant, or both. The
 * device grant has no response type (RFC 7591 §2.1 pairs "code" with authorization_code only), so
 * a device-only client has response_types [] and may not ask for "code".
 */
function checkTypes (body: Record<string, unknown>): { grantTypes: string[], responseTypes: string[] } | Failure {
  const askedGrants = body.grant_types === undefined ? ['authorization_code'] : stringList(body.grant_types)
  if (askedGrants === null) return fail('invalid_client_metadata', 'grant_types must be an array of strings')
  const grantTypes = GRANT_TYPES.filter(g => askedGrants.includes(g))
  const codeFlow = grantTypes.includes('authorization_code')
  if (!codeFlow && !grantTypes.includes(DEVICE_CODE_GRANT)) {
    return fail('invalid_client_metadata', `grant_types must include "authorization_code" or "${DEVICE_CODE_GRANT}" (supported: ${GRANT_TYPES.join(', ')})`)
  }
  const askedResponses = body.response_types === undefined ? (codeFlow ? ['code'] : []) : stringList(body.response_types)
  if (askedResponses === null) return fail('invalid_client_metadata', 'response_types must be an array of strings')
  if (!codeFlow) {
    if (askedResponses.includes('code')) return fail('invalid_client_metadata', 'response_types "code" belongs to the authorization_code grant, which grant_types does not list: a device-only client registers response_types [] (or leaves it out)')
    return { grantTypes, responseTypes: [] }
  }
  if (!askedResponses.includes('code')) return fail('invalid_client_metadata', 'response_types must include "code", the response type of the authorization_code grant')
  return { grantTypes, responseTypes: ['code'] }
}

/**
 * application_type: `native` or `web`, anything else refused. It does not constrain the redirect
 * URIs: MCP clients register loopback URIs without it, i.e. as `web` (docs/oauth.md, "MCP 2026-07-28
 * authorization"). Registrations without it are `web` (OIDC Registration §2); documents keep their absence.
 */
function checkApplicationType (value: unknown, doc: boolean): ApplicationType | undefined | Failure {
  if (value === undefined) return doc ? undefined : 'web'
  if (typeof value !== 'string' || !(APPLICATION_TYPES as readonly string[]).includes(value)) {
    return fail('invalid_client_metadata', `application_type must be one of: ${APPLICATION_TYPES.join(', ')}`)
  }
  return value as ApplicationType
}

/**
 * scope: a subset of the scopes offered; sign-in scopes (openid, offline_access, ...) are ignored.
 * Metadata documents have scopes outside the offer dropped. Undefined when no scope is kept.
 */
function checkScope (value: unknown, offered: readonly string[], doc: boolean): string | undefined | Failure {
  if (value === undefined) return undefined
  if (typeof value !== 'string') return fail('invalid_client_metadata', 'scope must be a space-separated string')
  const requested = requestedScopes(value, offered)
  const unknown = requested.filter(s => !offered.includes(s))
  if (unknown.length > 0 && !doc) return fail('invalid_client_metadata', `scope lists scopes this server does not offer: ${unknown.join(' ')} (offered: ${offered.join(' ')})`)
  const kept = requested.filter(s => offered.includes(s))
  return kept.length > 0 ? kept.join(' ') : undefined
}

/** Human-readable metadata shown on the consent page: bounded and plain. */
function checkDisplay (body: Record<string, unknown>): Pick<ClientMetadata, 'client_name' | 'client_uri' | 'logo_uri'> | Failure {
  const display: Pick<ClientMetadata, 'client_name' | 'client_uri' | 'logo_uri'> = {}
  if (body.client_name !== undefined) {
    if (typeof body.client_name !== 'string' || body.client_name.trim() === '') return fail('invalid_client_metadata', 'client_name must be a non-empty string')
    if (body.client_name.length > LIMITS.clientName) return fail('invalid_client_metadata', `client_name must be at most ${LIMITS.clientName} characters`)
    if (hasControl(body.client_name)) return fail('invalid_client_metadata', 'client_name must not contain control characters')
    display.client_name = body.client_name.trim()
  }
  for (const name of ['client_uri', 'logo_uri'] as const) {
    if (body[name] === undefined) continue
    const problem = webUriProblem(name, body[name])
    if (problem !== null) return fail('invalid_client_metadata', problem)
    display[name] = body[name] as string
  }
  return display
}

/** A private_key_jwt client's keys: exactly one of jwks_uri and jwks (RFC 7591 §2), or the reason not. */
function clientKeys (jwksUri: unknown, jwks: unknown): Pick<ClientMetadata, 'jwks_uri' | 'jwks'> | string {
  if (jwksUri !== undefined && jwks !== undefined) return 'private_key_jwt: give jwks_uri or jwks, not both'
  if (jwksUri !== undefined) {
    const problem = jwksUriProblem(jwksUri)
    return problem ?? { jwks_uri: jwksUri as string }
  }
  if (jwks === undefined) return 'private_key_jwt needs the client\'s public keys: jwks_uri or jwks'
  const parsed = parseClientJwks(jwks)
  return typeof parsed === 'string' ? `jwks: ${parsed}` : { jwks: parsed }
}

/**
 * Whether a client_id names a client ID metadata document (an https URL), and if it
 * is well-formed: https, a path, no fragment, no user information, no dot segments.
 * Returns null for a valid document URL, or the reason it is not.
 */
export function metadataDocumentUrlProblem (clientId: string): string | null {
  if (!clientId.startsWith('https://')) return 'a client ID metadata document URL must use https'
  if (clientId.length > LIMITS.uri) return `a client ID metadata document URL must be at most ${LIMITS.uri} characters`
  if (hasControlOrSpace(clientId) || !URL.canParse(clientId)) return 'the client_id is not a valid URL'
  if (clientId.includes('#')) return 'a client ID metadata document URL must not contain a fragment'
  const url = new URL(clientId)
  if (url.username !== '' || url.password !== '') return 'a client ID metadata document URL must not contain user information'
  // Dot segments are normalised away by the URL parser; look at the raw path.
  const afterScheme = clientId.slice('https://'.length)
  const pathStart = afterScheme.search(/[/?]/)
  const rawPath = pathStart === -1 || afterScheme[pathStart] !== '/' ? '' : afterScheme.slice(pathStart).split('?')[0]
  if (rawPath === '' || rawPath === '/') return 'a client ID metadata document URL must have a path'
  if (rawPath.split('/').some(segment => /^(\.|%2e){1,2}$/i.test(segment))) {
    return 'a client ID metadata document URL must not contain dot segments'
  }
  return null
}
