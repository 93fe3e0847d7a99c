// Every key shape the service stores, in one place (docs/architecture.md, "Keys and hash slots",
// lists the same). The store adds REDIS_KEY_PREFIX; the in-memory store's bounds go by the part before `:`
// (memory.ts storeKindOf). Secrets in a key are hashed: a store dump never holds a usable code or token.
// Redis Cluster: keys read or written by one command, script or transaction share a hash tag (the
// `{…}` part, which alone decides the slot), on one node as on a cluster (docs/architecture.md, "Keys
// and hash slots").
import { createHash } from 'node:crypto'

const sha256 = (value: string, encoding: 'hex' | 'base64url') => createHash('sha256').update(value).digest(encoding)

/**
 * The store epoch: when the store's data began (seconds). Renamed (from `epoch`) with the
 * revocation keys: a store written by an older version holds deny entries under names this one
 * does not read, so it counts as a new store and tokens issued before the upgrade are refused.
 */
export const EPOCH_KEY = 'epoch:2'

/** A registered (DCR) client. */
export const clientKey = (clientId: string) => `client:${clientId}`
/** A fetched client ID metadata document, by its URL. */
export const metadataDocumentKey = (url: string) => `cimd:${sha256(url, 'hex')}`
/** A fetched private_key_jwt key set, by its jwks_uri. */
export const clientJwksKey = (url: string) => `client-jwks:${sha256(url, 'hex')}`
/** Gate of one refetch of a key set per interval after an unknown kid. */
export const clientJwksRefetchKey = (url: string) => `client-jwks-refetch:${sha256(url, 'hex')}`
/** Single use of a client assertion's jti. */
export const clientJtiKey = (clientId: string, jti: string) => `client-jti:${sha256(`${clientId} ${jti}`, 'hex')}`

/** An authorize transaction (its id is also the upstream `state`). */
export const transactionKey = (id: string) => `tx:${id}`
/**
 * The scopes a consent session approved for a client. The session (a cookie's value) is hashed:
 * the hash is the consent's id in the admin listing, which never shows the cookie.
 */
export const consentId = (session: string) => sha256(session, 'base64url')
export const consentKey = (session: string, clientId: string) => consentRecordKey(consentId(session), clientId)
export const consentRecordKey = (id: string, clientId: string) => `consent:${id}:${clientId}`
/** A proxy authorization code, and its single-use counter. */
export const codeKey = (code: string) => `code:${sha256(code, 'base64url')}`
export const codeUseKey = (code: string) => `code-use:${sha256(code, 'base64url')}`
/** A grant: user claims, client, scopes, Entra tokens sealed. */
export const grantKey = (sid: string) => `grant:${sid}`
/** A refresh token of a grant, and its single-use counter. */
export const refreshKey = (token: string) => `rt:${sha256(token, 'base64url')}`
export const refreshUseKey = (token: string) => `rt-use:${sha256(token, 'base64url')}`

/**
 * Sorted indexes for the admin listings (Store.indexAdd), each one key read or written on its own,
 * so any slot on a cluster. Scores are expiry times (epoch seconds): a member whose score has passed
 * is dropped. Grants: all of them, per user (tid, oid), per client (hashed: a client id may be a
 * URL), and the client ids that have grants (CIMD clients are listed from it). Registered (DCR)
 * clients. Consents, member `<consent id>:<client_id>`.
 */
export const GRANT_INDEX_KEY = 'grant-index:all'
export const userGrantIndexKey = (tid: string, oid: string) => `grant-index:user:${tid}:${oid}`
export const clientGrantIndexKey = (clientId: string) => `grant-index:client:${sha256(clientId, 'base64url')}`
export const GRANT_CLIENTS_INDEX_KEY = 'grant-index:clients'
export const REGISTERED_CLIENTS_INDEX_KEY = 'client-index:registered'
export const CONSENT_INDEX_KEY = 'consent-index:all'

/**
 * A device authorization (RFC 8628), by the id of its device code (`deviceCodeId`, a hash: the code
 * itself is never stored); its user code's index to that id; the first answer (approve or deny) of
 * the user; the single redemption at /token; the client's polling pace. Each is read or written on
 * its own (no script spans two keys).
 */
export const deviceCodeId = (deviceCode: string) => sha256(deviceCode, 'base64url')
export const deviceKey = (id: string) => `device:${id}`
export const deviceUserCodeKey = (userCode: string) => `device-user:${sha256(userCode, 'base64url')}`
export const deviceAnswerKey = (id: string) => `device-answer:${id}`
export const deviceUseKey = (id: string) => `device-use:${id}`
export const devicePollKey = (id: string) => `device-poll:${id}`

/**
 * A revoked access token, and a revoked grant (every token of it refused). Read together on every
 * request with a token of ours: both carry the grant's hash tag `{sid}` (one slot, one MGET).
 */
export const revokedTokenKey = (jti: string, sid?: string) => sid === undefined ? `revoked:jti:${jti}` : `revoked:jti:{${sid}}:${jti}`
export const revokedGrantKey = (sid: string) => `revoked:grant:{${sid}}`

/**
 * The hash tag of a key as Redis Cluster reads it: the text between the first `{` and the next
 * `}`, when not empty; else the whole key. Keys with equal tags are in one slot.
 */
export function hashTag (key: string): string {
  const open = key.indexOf('{')
  if (open === -1) return key
  const close = key.indexOf('}', open + 1)
  return close > open + 1 ? key.slice(open + 1, close) : key
}

/** True when every key is in one slot on a Redis Cluster (an empty or one-key list is). */
export function oneSlot (keys: readonly string[]): boolean {
  const tag = keys.length === 0 ? '' : hashTag(keys[0])
  return keys.every(k => hashTag(k) === tag)
}

/** The prefix of rate-limit counters: `rl:{family}:{key}`. */
export const RATE_LIMIT_PREFIX = 'rl:'

/** A Conditional Access claims challenge waiting for the next sign-in of a user with a client. */
export const claimsChallengeKey = (clientId: string, tid: string, oid: string) => `claims-challenge:${clientId}:${tid}:${oid}`

/**
 * The admin area (plugins/admin/sessions.ts): a sign-in under way at Entra (its id is the upstream
 * `state` after the `admin.` marker), and an administrator's browser session by the hash of its id
 * (the cookie's value never sits in the store).
 */
export const adminLoginKey = (id: string) => `admin-login:${id}`
export const adminSessionKey = (sessionId: string) => `admin-session:${sha256(sessionId, 'base64url')}`
