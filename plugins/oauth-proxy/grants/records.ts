import { randomBytes } from 'node:crypto'

/** The user as Entra's verified id token describes them. */
export interface GrantUser {
  sub: string
  oid?: string
  tid?: string
  name?: string
  preferred_username?: string
  email?: string
  /** Entra app roles from the id token; only tokens for the admin resource carry them. */
  roles?: string[]
}

/** Entra's tokens for one grant; only ever stored sealed (AES-256-GCM, associated data = grant id). */
export interface UpstreamTokens {
  accessToken?: string
  /** Epoch seconds. */
  accessTokenExpiresAt?: number
  refreshToken?: string
  scope?: string
  /** A Microsoft Graph token obtained with the refresh token, cached until it nears expiry. */
  graph?: { accessToken: string, expiresAt: number, scope: string }
}

/** `grant:{sid}`: one sign-in of one user for one client. Every token of the grant refers to it. */
export interface Grant {
  sid: string
  clientId: string
  scopes: string[]
  user: GrantUser
  /** Sealed UpstreamTokens. */
  upstream: string
  /** Epoch seconds. */
  createdAt: number
  /** The RFC 8707 resource its tokens are for; absent: the MCP resource (`{MCP_BASE_URL}/mcp`). */
  resource?: string
}

/** `code:{sha256(code)}`: a proxy authorization code, bound to client, redirect URI, challenge and grant. */
export interface CodeRecord {
  sid: string
  clientId: string
  redirectUri: string
  codeChallenge: string
  scopes: string[]
  resource: string
  /** Set on first redemption: the record stays a little longer so a replay can find the grant. */
  used?: boolean
}

/** `rt:{sha256(token)}`: an opaque refresh token of a grant. */
export interface RefreshRecord {
  sid: string
  clientId: string
  scopes: string[]
  /** Set once rotated: presenting it again revokes the grant (after REFRESH_TOKEN_REUSE_GRACE). */
  used?: boolean
  /** When it was rotated (ms since the epoch). */
  usedAt?: number
}

export const CODE_TTL = 60
/** How long a redeemed code is remembered, so that a replay still revokes its grant. */
export const USED_CODE_TTL = 600

export const randomToken = (bytes = 32) => randomBytes(bytes).toString('base64url')

const OPAQUE = /^[A-Za-z0-9_-]{20,200}$/
/** Codes and refresh tokens this service makes are base64url; anything else is unknown without a lookup. */
export function isOpaqueToken (value: unknown): value is string {
  return typeof value === 'string' && OPAQUE.test(value)
}

/**
 * `device:{id}`: a device authorization (RFC 8628), id = hash of its device code. Written at the
 * request and once more by the user's answer (approved with the grant's sid, or denied).
 */
export interface DeviceRecord {
  clientId: string
  scopes: string[]
  resource: string
  /** Epoch seconds. */
  createdAt: number
  expiresAt: number
  /** Seconds the client waits between polls, as first announced. */
  interval: number
  /** Where the request came from, shown on the consent page. */
  requestIp: string
  status: 'pending' | 'approved' | 'denied'
  /** The store key of its user code's index (a hash: the user code itself is not stored). */
  userCodeKey: string
  /** The grant made by the approval. */
  sid?: string
}

/** `device-poll:{id}`: when the client last polled (ms) and the interval it must keep now. */
export interface DevicePollRecord { at: number, interval: number }

/** RFC 8628 §3.2: the life of a device code and the polling interval (seconds). */
export const DEVICE_CODE_TTL = 600
export const DEVICE_POLL_INTERVAL = 5
/** A device record outlives its code by this much, so that a late poll hears expired_token, not "unknown". */
export const DEVICE_RECORD_GRACE = 600
