import { StoreFullError, type EpochRead, type IndexEntry, type Store, type StoreKind } from './contract.ts'

/** A value, or a sorted index (`members`, with the highest `expired` it was told, for the sweep). */
interface Entry { value: string, expiresAt: number, members?: Map<string, number>, expired?: number }

// Key prefixes (up to the first ':') of entries that are only copies of something fetched, or budgets
// of outbound fetches: dropping one costs a refetch, never a check.
const CACHES = new Set(['cimd', 'client-jwks', 'client-jwks-refetch'])

/**
 * What a key holds, from its prefix. Anything not named here is sign-in state (grants, codes,
 * refresh tokens, consents, replay markers such as `code-use:` and `client-jti:`): a new kind of
 * key is protected until someone decides otherwise.
 */
export function storeKindOf (key: string): StoreKind {
  const prefix = key.slice(0, key.indexOf(':'))
  if (prefix === 'revoked') return 'revocation'
  if (prefix === 'tx') return 'transaction'
  if (prefix === 'client') return 'client'
  if (CACHES.has(prefix)) return 'cache'
  return 'grant'
}

/**
 * How MEMORY_STORE_MAX_ENTRIES splits: sign-in state gets the whole figure, transactions, registered
 * clients and caches a tenth each. Revocations are not bounded: refusing one would leave a token valid,
 * and each needs a token this service issued and ends with it.
 */
export function memoryStoreBounds (maxEntries: number): Record<StoreKind, number> {
  const tenth = Math.max(10, Math.floor(maxEntries / 10))
  return { grant: maxEntries, transaction: tenth, client: tenth, cache: tenth, revocation: Infinity }
}

/**
 * One process only: state dies with it and is not seen by other instances.
 * Bounded per kind (memoryStoreBounds): a full cache drops its oldest entry; any other full kind
 * refuses the new key with StoreFullError. Nothing that protects a check is ever dropped for room.
 * A sorted index is one entry of its kind and holds at most that kind's bound of members (expired
 * ones are dropped first; then a new member is refused, never an old one dropped: an index may be
 * what finds a grant to revoke).
 * Its epoch is the moment it was made (kept outside the bounded entries): a restart is a wipe.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  private readonly kinds = new Map<StoreKind, Map<string, Entry>>()
  private readonly bounds: Record<StoreKind, number>
  private readonly now: () => number
  private readonly sweeper: NodeJS.Timeout
  private readonly epoch: number

  constructor (opts: { maxEntries?: number, now?: () => number } = {}) {
    this.bounds = memoryStoreBounds(opts.maxEntries ?? 100000)
    this.now = opts.now ?? Date.now
    this.sweeper = setInterval(() => this.sweep(), 60000).unref()
    this.epoch = Math.floor(this.now() / 1000)
  }

  private entriesOf (key: string): Map<string, Entry> {
    const kind = storeKindOf(key)
    let entries = this.kinds.get(kind)
    if (entries === undefined) {
      entries = new Map()
      this.kinds.set(kind, entries)
    }
    return entries
  }

  private live (key: string): Entry | undefined {
    const entries = this.entriesOf(key)
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== 0 && entry.expiresAt <= this.now()) {
      entries.delete(key)
      return undefined
    }
    return entry
  }

  private put (key: string, value: string, ttlSeconds = 0): void {
    const kind = storeKindOf(key)
    const entries = this.entriesOf(key)
    // Rewriting a key takes no new room; a new key needs a free place in its kind.
    if (!entries.delete(key) && entries.size >= this.bounds[kind]) {
      this.sweepEntries(entries)
      if (entries.size >= this.bounds[kind]) {
        if (kind !== 'cache') throw new StoreFullError(kind)
        entries.delete(entries.keys().next().value as string)
      }
    }
    entries.set(key, { value, expiresAt: ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : 0 })
  }

  private sweepEntries (entries: Map<string, Entry>): void {
    const now = this.now()
    for (const [key, entry] of entries) {
      if (entry.expiresAt !== 0 && entry.expiresAt <= now) entries.delete(key)
      else if (entry.members !== undefined && entry.expired !== undefined) dropExpired(entry.members, entry.expired)
    }
  }

  /** The live index at `key`, or undefined (a plain value there counts as none). */
  private liveIndex (key: string): Entry | undefined {
    const entry = this.live(key)
    return entry?.members === undefined ? undefined : entry
  }

  sweep (): void {
    for (const entries of this.kinds.values()) this.sweepEntries(entries)
  }

  get size (): number {
    let size = 0
    for (const entries of this.kinds.values()) size += entries.size
    return size
  }

  async get (key: string) {
    return this.live(key)?.value ?? null
  }

  async getMany (keys: string[]) {
    return keys.map(key => this.live(key)?.value ?? null)
  }

  async getManyWithEpoch (keys: string[]): Promise<EpochRead> {
    return { values: await this.getMany(keys), epoch: this.epoch, reset: false }
  }

  async set (key: string, value: string, ttlSeconds?: number) {
    this.put(key, value, ttlSeconds)
  }

  async take (key: string) {
    const entry = this.live(key)
    this.entriesOf(key).delete(key)
    return entry?.value ?? null
  }

  async delete (key: string) {
    this.entriesOf(key).delete(key)
  }

  async incr (key: string, ttlSeconds: number) {
    const entry = this.live(key)
    if (entry === undefined) {
      this.put(key, '1', ttlSeconds)
      return 1
    }
    const count = Number(entry.value) + 1
    entry.value = String(count)
    return count
  }

  async indexAdd (key: string, member: string, score: number, opts: { expired: number, ttlSeconds: number }) {
    let entry = this.liveIndex(key)
    if (entry === undefined) {
      this.put(key, '', opts.ttlSeconds)
      entry = this.entriesOf(key).get(key) as Entry
      entry.members = new Map()
    }
    const members = entry.members as Map<string, number>
    entry.expired = Math.max(entry.expired ?? -Infinity, opts.expired)
    if (!members.has(member) && members.size >= this.bounds[storeKindOf(key)]) {
      dropExpired(members, opts.expired)
      if (members.size >= this.bounds[storeKindOf(key)]) throw new StoreFullError(storeKindOf(key))
    }
    members.set(member, score)
    entry.expiresAt = opts.ttlSeconds > 0 ? this.now() + opts.ttlSeconds * 1000 : 0
  }

  async indexRemove (key: string, members: readonly string[]) {
    const entry = this.liveIndex(key)
    for (const member of members) entry?.members?.delete(member)
  }

  // An add only records its expired mark (dropping then would cost a pass over the members each
  // time); reads and the sweep drop up to the highest mark seen, so the index behaves as Redis' does.
  async indexRange (key: string, opts: { expired: number, limit: number }): Promise<IndexEntry[]> {
    const entry = this.liveIndex(key)
    if (entry?.members === undefined) return []
    const { members } = entry
    dropExpired(members, Math.max(opts.expired, entry.expired ?? -Infinity))
    return [...members].map(([member, score]) => ({ member, score }))
      .sort((a, b) => b.score - a.score || (a.member < b.member ? 1 : -1))
      .slice(0, Math.max(0, opts.limit))
  }

  async indexCount (key: string, expired: number) {
    const entry = this.liveIndex(key)
    const mark = Math.max(expired, entry?.expired ?? -Infinity)
    let count = 0
    for (const score of entry?.members?.values() ?? []) if (score > mark) count++
    return count
  }

  async ping () {}

  async close () {
    clearInterval(this.sweeper)
    this.kinds.clear()
  }
}

function dropExpired (members: Map<string, number>, expired: number): void {
  for (const [member, score] of members) if (score <= expired) members.delete(member)
}
