import type { FastifyRequest } from 'fastify'
import type { AuditEvent, AuditFields } from '../../audit-log/events.ts'
import { InvalidGrantError, InvalidScopeError, InvalidTargetError } from '../../errors/oauth.ts'
import { getJson, setJson, takeJson, type Store } from '../../store/contract.ts'
import { CONSENT_INDEX_KEY, codeKey, codeUseKey, consentId, consentKey, grantKey, refreshKey, refreshUseKey, transactionKey } from '../../store/keys.ts'
import { verifyS256 } from '../authorize/pkce.ts'
import { requestedScopes } from '../authorize/requested-scopes.ts'
import { isTransactionId, remainingTtl, type AuthorizeTransaction } from '../authorize/transactions.ts'
import type { EntraTokenSet } from '../upstream-entra.ts'
import type { TokenCipher } from './token-crypto.ts'
import { DeviceGrants } from './devices.ts'
import { GrantIndex } from './grant-index.ts'
import { GrantAdmin, type ClientDirectory } from './admin.ts'
import {
  CODE_TTL, USED_CODE_TTL, isOpaqueToken, randomToken, type CodeRecord, type Grant, type GrantUser, type RefreshRecord, type UpstreamTokens
} from './records.ts'

// The one owner of the OAuth state records (keys in plugins/store/keys.ts): authorize transactions
// `tx:`, consent approvals `consent:`, grants `grant:`, codes `code:`/`code-use:`, refresh tokens
// `rt:`/`rt-use:`, and through `devices` (devices.ts) the device grant's `device:` records. Routes
// map HTTP to these calls; they never touch the store.

/** The token endpoint's answer (RFC 6749 §5.1). */
export interface TokenResponse {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  /** Only for clients registered for the refresh_token grant. */
  refresh_token?: string
  scope: string
}

/** Why a grant was revoked (audit `reason`). */
export type RevocationReason = 'code_replay' | 'refresh_reused' | 'revoked_by_client' | 'revoked_by_user' | 'revoked_by_admin' | 'upstream_ended'

export interface GrantStoreOptions {
  store: Store
  /** AES-256-GCM for Entra's tokens at rest. */
  cipher: TokenCipher
  config: { refreshTokenTtl: number, refreshReuseGrace: number, consentTtl: number, scopes: readonly string[] }
  /** Signs a proxy access token for a grant and scope (jwt-verify's signer). */
  signAccessToken (grant: Grant, scope: string): Promise<{ accessToken: string, jti: string, expiresIn: number }>
  /** jwt-verify's deny list: every access token of the grant is refused from now on. */
  denyGrant (sid: string): Promise<void>
  audit (event: AuditEvent, fields?: AuditFields, request?: FastifyRequest): void
  /** Renews Entra's tokens of a grant when they near expiry (at a client refresh); throws OAuth errors. */
  renewUpstream (grant: Grant, request?: FastifyRequest): Promise<Grant>
  /** The client registry, for the admin's listings and deletions (names, registrations); none: no client is known. */
  clients?: ClientDirectory
  /** Epoch seconds (records, expiries). */
  now?: () => number
  /** Epoch milliseconds: when a refresh token was rotated, for the reuse grace period. */
  nowMs?: () => number
}

// saveTransaction (and fastify.upstreamSignIn) throw it when the store's transactions are at their
// bound: /authorize answers 503 (routes never import the store).
export { StoreFullError } from '../../store/contract.ts'

export const unknownCode = () => new InvalidGrantError('The authorization code is unknown, expired or already used')
export const unknownRefreshToken = () => new InvalidGrantError('The refresh token is unknown, expired or revoked')

function tokensToUpstream (tokens: EntraTokenSet, nowSeconds: number, previous: UpstreamTokens = {}): UpstreamTokens {
  return {
    ...previous,
    accessToken: tokens.access_token,
    accessTokenExpiresAt: nowSeconds + tokens.expires_in,
    refreshToken: tokens.refresh_token ?? previous.refreshToken,
    scope: tokens.scope ?? previous.scope
  }
}

/** Builds the grants model (the one owner of the OAuth state records). */
export function createGrantStore (opts: GrantStoreOptions): GrantStore {
  return new GrantStore(opts)
}

export class GrantStore {
  private readonly store: Store
  private readonly cipher: TokenCipher
  private readonly config: GrantStoreOptions['config']
  private readonly opts: GrantStoreOptions
  private readonly now: () => number
  private readonly nowMs: () => number
  /** Device authorizations (RFC 8628): requested, answered by the user, polled by the client. */
  readonly devices: DeviceGrants
  /** The grants' indexes (active grants overall, per user, per client). */
  readonly index: GrantIndex
  /** Listings and revocations for administrators (admin.ts). */
  readonly admin: GrantAdmin

  constructor (opts: GrantStoreOptions) {
    this.opts = opts
    this.store = opts.store
    this.cipher = opts.cipher
    this.config = opts.config
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000))
    this.nowMs = opts.nowMs ?? (() => Date.now())
    this.index = new GrantIndex({ store: opts.store, now: this.now, refreshTokenTtl: opts.config.refreshTokenTtl })
    this.admin = new GrantAdmin({ grants: this, store: opts.store, clients: opts.clients, now: this.now, consentTtl: opts.config.consentTtl })
    this.devices = new DeviceGrants({
      store: opts.store,
      now: this.now,
      nowMs: this.nowMs,
      audit: opts.audit,
      storeGrant: async (clientId, scopes, { user, tokens }) => await this.storeGrant(clientId, scopes, user, tokens)
    })
  }

  async saveTransaction (tx: AuthorizeTransaction): Promise<void> {
    await setJson(this.store, transactionKey(tx.id), tx, remainingTtl(tx, this.now()))
  }

  async readTransaction (id: string): Promise<AuthorizeTransaction | null> {
    return isTransactionId(id) ? await getJson<AuthorizeTransaction>(this.store, transactionKey(id)) : null
  }

  /** Atomic: of concurrent takes of one transaction, one gets it. */
  async takeTransaction (id: string): Promise<AuthorizeTransaction | null> {
    return isTransactionId(id) ? await takeJson<AuthorizeTransaction>(this.store, transactionKey(id)) : null
  }

  /** The scopes a browser's consent session approved for a client, or null. */
  async approvedScopes (session: string, clientId: string): Promise<string[] | null> {
    return await getJson<string[]>(this.store, consentKey(session, clientId))
  }

  /** Stores the session's approvals for the client (for CONSENT_TTL). */
  async approveScopes (session: string, clientId: string, scopes: readonly string[]): Promise<void> {
    const { consentTtl } = this.config
    const expired = this.now()
    await this.store.indexAdd(CONSENT_INDEX_KEY, `${consentId(session)}:${clientId}`, expired + consentTtl, { expired, ttlSeconds: consentTtl })
    await setJson(this.store, consentKey(session, clientId), scopes, this.config.consentTtl)
  }

  /** Stores a grant with Entra's tokens sealed, and mints the one-time proxy code bound to it. */
  async createGrant ({ tx, user, tokens }: { tx: AuthorizeTransaction, user: GrantUser, tokens: EntraTokenSet }): Promise<{ grant: Grant, code: string }> {
    const grant = await this.storeGrant(tx.clientId, tx.scopes, user, tokens, tx.resource)
    const { sid } = grant
    const code = randomToken(32)
    const record: CodeRecord = { sid, clientId: tx.clientId, redirectUri: tx.redirectUri, codeChallenge: tx.codeChallenge, scopes: tx.scopes, resource: tx.resource }
    await setJson(this.store, codeKey(code), record, CODE_TTL)
    return { grant, code }
  }

  private async storeGrant (clientId: string, scopes: string[], user: GrantUser, tokens: EntraTokenSet, resource?: string): Promise<Grant> {
    const sid = randomToken(24)
    const grant: Grant = { sid, clientId, scopes, user, upstream: this.seal(tokensToUpstream(tokens, this.now()), sid), createdAt: this.now(), ...(resource !== undefined ? { resource } : {}) }
    await this.index.add(grant)
    await setJson(this.store, grantKey(sid), grant, this.config.refreshTokenTtl)
    return grant
  }

  /** A device code's grant once its user approved (devices.poll; one poll gets it). */
  async redeemDeviceCode (input: { deviceCode: string, clientId: string }, request?: FastifyRequest): Promise<{ grant: Grant, scopes: string[] }> {
    const { sid, scopes } = await this.devices.poll(input, request)
    const grant = await this.readGrant(sid)
    if (grant === null) throw new InvalidGrantError('The sign-in behind this device code no longer exists')
    return { grant, scopes }
  }

  async readGrant (sid: string): Promise<Grant | null> {
    return await getJson<Grant>(this.store, grantKey(sid))
  }

  openUpstream (grant: Grant): UpstreamTokens {
    return JSON.parse(this.cipher.open(grant.upstream, grant.sid)) as UpstreamTokens
  }

  /** Stores the grant with new Entra tokens (sealed). */
  async saveUpstream (grant: Grant, upstream: UpstreamTokens): Promise<Grant> {
    const updated = { ...grant, upstream: this.seal(upstream, grant.sid) }
    await this.index.add(updated)
    await setJson(this.store, grantKey(grant.sid), updated, this.config.refreshTokenTtl)
    return updated
  }

  /** Entra's new token set merged into the grant's. */
  async saveTokenSet (grant: Grant, tokens: EntraTokenSet, previous: UpstreamTokens): Promise<Grant> {
    return await this.saveUpstream(grant, tokensToUpstream(tokens, this.now(), previous))
  }

  /**
   * Redeems a proxy code once: bound to its client, redirect URI and PKCE challenge. A code
   * redeemed twice revokes its grant (every token issued with it).
   */
  async redeemCode (input: { code: string, clientId: string, verifier: string, redirectUri?: string, resource?: string }, request?: FastifyRequest): Promise<{ grant: Grant, scopes: string[] }> {
    const { store } = this
    const record = await getJson<CodeRecord>(store, codeKey(input.code))
    if (record === null) throw unknownCode()
    const replayed = async () => {
      await this.revoke(record.sid, 'code_replay', request)
      return new InvalidGrantError('The authorization code was already used; every token issued with it is revoked')
    }
    if (record.used === true) throw await replayed()
    if (record.clientId !== input.clientId) throw new InvalidGrantError('The authorization code was issued to another client')
    if (input.redirectUri !== undefined && input.redirectUri !== record.redirectUri) {
      throw new InvalidGrantError('redirect_uri does not match the one of the authorization request')
    }
    if (!verifyS256(input.verifier, record.codeChallenge)) throw new InvalidGrantError('The PKCE code_verifier does not match the code_challenge')
    // RFC 8707: the code is for the resource named at /authorize; asking another one here is refused before the code is spent.
    if (input.resource !== undefined && input.resource !== record.resource) throw new InvalidTargetError('resource is not the one of the authorization request')

    // One redemption only: the counter is atomic across instances; the record stays, marked used,
    // so that a replay (even after the code's own 60 s) finds the grant and revokes it.
    if (await store.incr(codeUseKey(input.code), USED_CODE_TTL) > 1) throw await replayed()
    await setJson(store, codeKey(input.code), { ...record, used: true }, USED_CODE_TTL)

    const grant = await this.readGrant(record.sid)
    if (grant === null) throw new InvalidGrantError('The sign-in behind this code no longer exists')
    return { grant, scopes: record.scopes }
  }

  /**
   * Spends a refresh token (rotation; the caller issues the new one). `scope` may narrow the
   * grant's scopes for this access token. Entra's tokens are renewed first (Entra may say the
   * sign-in is over), the refresh token spent only after. An already-used refresh token revokes
   * the grant, except within REFRESH_TOKEN_REUSE_GRACE of its first use.
   */
  async rotateRefresh (input: { token: string, clientId: string, scope?: string, resource?: string }, request?: FastifyRequest): Promise<{ grant: Grant, scopes: string[], reusedWithinGrace: boolean }> {
    const { store, config } = this
    const record = await getJson<RefreshRecord>(store, refreshKey(input.token))
    if (record === null) throw unknownRefreshToken()
    if (record.clientId !== input.clientId) throw new InvalidGrantError('The refresh token was issued to another client')
    const reused = async () => {
      this.opts.audit('token.refresh_reused', { outcome: 'failure', client_id: input.clientId }, request)
      await this.revoke(record.sid, 'refresh_reused', request)
      return new InvalidGrantError('The refresh token was already used; the grant is revoked, sign in again')
    }
    // A client whose processes share one refresh token (Claude Code sessions) refreshes with it
    // twice at once: within the grace period a second use refreshes too, and only a later one is a
    // replay. Each use gets its own new refresh token.
    const graceMs = config.refreshReuseGrace * 1000
    const inGrace = (usedAt: number | undefined) => graceMs > 0 && usedAt !== undefined && this.nowMs() - usedAt <= graceMs
    if (record.used === true && !inGrace(record.usedAt)) throw await reused()

    const scopes = narrowedScopes(record.scopes, input.scope, config.scopes)
    const grant = await this.readGrant(record.sid)
    if (grant === null) throw new InvalidGrantError('The sign-in behind this refresh token no longer exists (revoked or expired)')
    // A grant is for one resource: its refresh token never mints a token for the other (checked before it is spent).
    if (input.resource !== undefined && grant.resource !== undefined && input.resource !== grant.resource) {
      throw new InvalidTargetError('This refresh token is for another resource')
    }
    const renewed = await this.renew(grant, request)

    const uses = await store.incr(refreshUseKey(input.token), config.refreshTokenTtl)
    let marked: RefreshRecord | null = null
    if (uses > 1) {
      if (graceMs === 0) throw await reused()
      // Not marked yet: the other refresh with this token is in flight right now (it marks it next).
      marked = await getJson<RefreshRecord>(store, refreshKey(input.token))
      if (marked === null) throw unknownRefreshToken()
      if (marked.used === true && !inGrace(marked.usedAt)) throw await reused()
    }
    if (marked?.used !== true) await setJson(store, refreshKey(input.token), { ...record, used: true, usedAt: this.nowMs() }, config.refreshTokenTtl)
    await this.index.add(renewed)
    return { grant: renewed, scopes, reusedWithinGrace: uses > 1 }
  }

  /** Issues an access token for `scopes` and, when asked, a new refresh token for the grant's scopes. */
  async issueTokens (grant: Grant, scopes: readonly string[], issue: { refreshToken: boolean }): Promise<TokenResponse & { jti: string }> {
    const scope = scopes.join(' ')
    const { accessToken, jti, expiresIn } = await this.opts.signAccessToken(grant, scope)
    const answer: TokenResponse & { jti: string } = { access_token: accessToken, token_type: 'Bearer', expires_in: expiresIn, scope, jti }
    if (issue.refreshToken) {
      const refreshToken = randomToken(32)
      // A refresh token always carries the whole grant: a narrowed access token does not narrow it (RFC 6749 §6).
      const record: RefreshRecord = { sid: grant.sid, clientId: grant.clientId, scopes: grant.scopes }
      await setJson(this.store, refreshKey(refreshToken), record, this.config.refreshTokenTtl)
      answer.refresh_token = refreshToken
    }
    return answer
  }

  /**
   * Every token of the grant stops working: access tokens refused, refresh tokens find no grant.
   * Returns the grant as it was (null: it had expired or was revoked before).
   */
  async revoke (sid: string, reason: RevocationReason, request?: FastifyRequest): Promise<Grant | null> {
    const grant = await this.readGrant(sid)
    await this.opts.denyGrant(sid)
    await this.store.delete(grantKey(sid))
    await this.index.remove(grant ?? { sid })
    this.opts.audit('token.revoked', { reason, token_type: 'grant', client_id: grant?.clientId, oid: grant?.user.oid, tid: grant?.user.tid }, request)
    return grant
  }

  /** RFC 7009 for a refresh token: its grant is revoked when the token is the client's; anything else is ignored. */
  async revokeRefreshToken (token: string, clientId: string, request?: FastifyRequest): Promise<void> {
    if (!isOpaqueToken(token)) return
    const record = await getJson<RefreshRecord>(this.store, refreshKey(token))
    if (record !== null && record.clientId === clientId) await this.revoke(record.sid, 'revoked_by_client', request)
  }

  /** Entra first; a refusal that ends the sign-in revokes the grant. */
  private async renew (grant: Grant, request?: FastifyRequest): Promise<Grant> {
    try {
      return await this.opts.renewUpstream(grant, request)
    } catch (err) {
      if (err instanceof InvalidGrantError) await this.revoke(grant.sid, 'upstream_ended', request)
      throw err
    }
  }

  private seal (upstream: UpstreamTokens, sid: string): string {
    return this.cipher.seal(JSON.stringify(upstream), sid)
  }
}

/** The scopes of a refresh: the grant's, or fewer when `scope` names fewer (never more). */
function narrowedScopes (granted: string[], scope: string | undefined, offered: readonly string[]): string[] {
  if (scope === undefined) return granted
  const asked = requestedScopes(scope, offered)
  const beyond = asked.filter(s => !granted.includes(s))
  if (beyond.length > 0) throw new InvalidScopeError(`The grant does not include: ${beyond.join(' ')}`)
  return asked.length > 0 ? asked : granted
}
