import type { IndexEntry, Store } from '../../store/contract.ts'
import { GRANT_CLIENTS_INDEX_KEY, GRANT_INDEX_KEY, clientGrantIndexKey, userGrantIndexKey } from '../../store/keys.ts'
import type { Grant } from './records.ts'

/** Which grants a listing is about: all, one user's (tenant and object id), or one client's. */
export type GrantScope = { user: { tid: string, oid: string } } | { clientId: string } | Record<string, never>

/** A grant as far as its indexes need it (the record, or what revocation knew of it). */
type Indexed = Pick<Grant, 'sid' | 'clientId'> & { user?: Pick<Grant['user'], 'tid' | 'oid'> }
type Known = Pick<Grant, 'sid'> & Partial<Indexed>

const userKey = (grant: Known) => grant.user?.tid !== undefined && grant.user.oid !== undefined ? userGrantIndexKey(grant.user.tid, grant.user.oid) : undefined

/**
 * The grants model's indexes of its grants (keys.ts, "Sorted indexes"): every grant is in the
 * overall index, its user's (when Entra named tid and oid) and its client's, scored with the time
 * its record expires at the latest. Written before the record (a grant is never left out of its
 * user's index, which revocation of a user reads) and again whenever the record is rewritten or the
 * grant refreshed; removed at revocation; otherwise dropped once its score has passed. Each
 * index is one key written by its own command: no atomicity with the record is needed, since a
 * listing skips members whose record is gone.
 */
export class GrantIndex {
  private readonly store: Store
  private readonly now: () => number
  private readonly ttl: () => number

  constructor (opts: { store: Store, now: () => number, refreshTokenTtl: number }) {
    this.store = opts.store
    this.now = opts.now
    this.ttl = () => opts.refreshTokenTtl
  }

  /** The grant's record lives `refreshTokenTtl` from now: so do its index entries (and the keys). */
  async add (grant: Indexed): Promise<void> {
    const expiresAt = this.now() + this.ttl()
    const opts = { expired: this.now(), ttlSeconds: this.ttl() }
    const user = userKey(grant)
    await Promise.all([
      this.store.indexAdd(GRANT_INDEX_KEY, grant.sid, expiresAt, opts),
      this.store.indexAdd(clientGrantIndexKey(grant.clientId), grant.sid, expiresAt, opts),
      this.store.indexAdd(GRANT_CLIENTS_INDEX_KEY, grant.clientId, expiresAt, opts),
      user === undefined ? undefined : this.store.indexAdd(user, grant.sid, expiresAt, opts)
    ])
  }

  /** Out of every index that names it (the client stays in the clients index until its last grant expires). */
  async remove (grant: Known): Promise<void> {
    const user = userKey(grant)
    await Promise.all([
      this.store.indexRemove(GRANT_INDEX_KEY, [grant.sid]),
      grant.clientId === undefined ? undefined : this.store.indexRemove(clientGrantIndexKey(grant.clientId), [grant.sid]),
      user === undefined ? undefined : this.store.indexRemove(user, [grant.sid])
    ])
  }

  /** Grants' sids with their expiry, the latest-expiring (most recently active) first. */
  async range (scope: GrantScope, limit: number): Promise<IndexEntry[]> {
    return await this.store.indexRange(keyOf(scope), { expired: this.now(), limit })
  }

  /** Drops sids whose record is gone (expired early, or revoked by an instance that died midway). */
  async forget (scope: GrantScope, sids: readonly string[]): Promise<void> {
    await this.store.indexRemove(keyOf(scope), sids)
  }

  /** Client ids with a grant that may still live, the latest first. */
  async clients (limit: number): Promise<IndexEntry[]> {
    return await this.store.indexRange(GRANT_CLIENTS_INDEX_KEY, { expired: this.now(), limit })
  }

  async forgetClient (clientId: string): Promise<void> {
    await this.store.indexRemove(GRANT_CLIENTS_INDEX_KEY, [clientId])
  }

  /** Approximate: grants whose record may still live (one that expired before its score counts until then). */
  async count (scope: GrantScope = {}): Promise<number> {
    return await this.store.indexCount(keyOf(scope), this.now())
  }

  /** When the grant was last written or refreshed (its score less the lifetime), in epoch seconds. */
  activeAt (score: number): number {
    return score - this.ttl()
  }
}

function keyOf (scope: GrantScope): string {
  if ('user' in scope) return userGrantIndexKey(scope.user.tid, scope.user.oid)
  if ('clientId' in scope) return clientGrantIndexKey(scope.clientId)
  return GRANT_INDEX_KEY
}
