import createError from '@fastify/error'

/**
 * The state every instance must see: registered clients, authorize transactions,
 * codes, grants, refresh tokens, revocations, consents, rate-limit counters.
 * Values are strings; callers serialise. TTLs are seconds.
 */
export interface Store {
  readonly kind: 'redis' | 'memory'
  get (key: string): Promise<string | null>
  getMany (keys: string[]): Promise<Array<string | null>>
  /**
   * `getMany(keys)` and the store epoch in one step (one Redis round trip). The epoch is written
   * at first use, set-if-absent so that concurrent instances agree; `reset` says this call wrote it.
   */
  getManyWithEpoch (keys: string[]): Promise<EpochRead>
  /** ttlSeconds 0 or absent: no expiry. */
  set (key: string, value: string, ttlSeconds?: number): Promise<void>
  /** Reads and deletes in one atomic step: of many concurrent takes of one key, one gets the value. */
  take (key: string): Promise<string | null>
  delete (key: string): Promise<void>
  /** Adds one and returns the new count; the TTL starts with the first increment. */
  incr (key: string, ttlSeconds: number): Promise<number>
  /**
   * Sorted index (a Redis sorted set; one key, so any slot on a cluster): puts `member` at `score`
   * (again: moves it), first dropping members scored at or below `expired`; the key lives
   * `ttlSeconds` from now (0: no expiry).
   */
  indexAdd (key: string, member: string, score: number, opts: { expired: number, ttlSeconds: number }): Promise<void>
  indexRemove (key: string, members: readonly string[]): Promise<void>
  /** Members scored above `expired`, highest score first, at most `limit`; those at or below are dropped. */
  indexRange (key: string, opts: { expired: number, limit: number }): Promise<IndexEntry[]>
  /** How many members score above `expired`. */
  indexCount (key: string, expired: number): Promise<number>
  ping (): Promise<void>
  close (): Promise<void>
}

/** A member of a sorted index and its score. */
export interface IndexEntry { member: string, score: number }

/**
 * The store's epoch: when its data began (epoch seconds). Missing later means the data was lost
 * (a Redis restart without persistence): a new one is written, and self-issued tokens issued before
 * it are refused, since the revocations that applied to them are gone too (design-notes §8).
 */

/** Entries read together with the store epoch. */
export interface EpochRead {
  /** The values of the keys asked for, in their order (null: absent). */
  values: Array<string | null>
  /** Epoch seconds. */
  epoch: number
  /** This read found no epoch and wrote it: the store is new or lost its data. */
  reset: boolean
}

export const StoreUnavailableError = createError('FST_ERR_STORE_UNAVAILABLE', 'The state store is unavailable; retry shortly', 503)

/** What a key holds, for the in-memory store's separate bounds (memory-store.ts storeKindOf). */
export type StoreKind = 'revocation' | 'transaction' | 'client' | 'grant' | 'cache'

const StoreFull = createError('FST_ERR_STORE_FULL', 'The service holds as much state as it may; retry later', 503)

// Safe to show a client: what is full, and when trying again helps.
const FULL_MESSAGES: Partial<Record<StoreKind, string>> = {
  transaction: 'Too many sign-ins are in progress; try again in a few minutes',
  client: 'The service cannot register more clients now; try again later'
}

/** A new key was refused because its kind is at its bound; nothing was dropped to make room. */
export class StoreFullError extends StoreFull {
  readonly kind: StoreKind
  constructor (kind: StoreKind) {
    super()
    this.kind = kind
    this.message = FULL_MESSAGES[kind] ?? this.message
  }
}

export async function getJson<T> (store: Store, key: string): Promise<T | null> {
  const value = await store.get(key)
  return value === null ? null : JSON.parse(value) as T
}

export async function takeJson<T> (store: Store, key: string): Promise<T | null> {
  const value = await store.take(key)
  return value === null ? null : JSON.parse(value) as T
}

export async function setJson (store: Store, key: string, value: unknown, ttlSeconds?: number): Promise<void> {
  await store.set(key, JSON.stringify(value), ttlSeconds)
}
