import { isCluster, type RedisClient } from '../store/connection.ts'
import { readWithEpoch } from '../store/redis.ts'
import { type EpochRead } from '../store/contract.ts'
import { EPOCH_KEY, RATE_LIMIT_PREFIX } from '../store/keys.ts'

/** One fixed window: how many hits so far, and how long until the window ends. */
export interface CounterResult { current: number, ttlMs: number }

export interface Counter {
  readonly kind: 'redis' | 'memory'
  /** Counts one hit on `key`; the window (and its expiry) starts with the first hit. */
  incr (key: string, windowMs: number): Promise<CounterResult>
  /**
   * Counts one hit on each key, in one step (one Redis round trip); results in the same order.
   * `reads`: store keys (as the store names them, without prefix) to read in the same round
   * trip, with the store epoch, as `Store.getManyWithEpoch` does; only a Redis counter reads them
   * (`read`), a memory counter leaves them to the store.
   */
  incrMany (hits: ReadonlyArray<{ key: string, windowMs: number }>, reads?: readonly string[]): Promise<ManyResult>
}

export interface ManyResult { counts: CounterResult[], read?: EpochRead }

/**
 * Counters in the process, for one instance without Redis. Bounded: when full, the oldest
 * window is dropped (it can only make a caller's budget larger, never block anyone).
 * `now` is injectable so tests move time without sleeping.
 */
export class MemoryCounter implements Counter {
  readonly kind = 'memory'
  private readonly windows = new Map<string, { count: number, endsAt: number }>()
  private readonly maxEntries: number
  private readonly now: () => number

  constructor ({ maxEntries = 100000, now = Date.now }: { maxEntries?: number, now?: () => number } = {}) {
    this.maxEntries = maxEntries
    this.now = now
  }

  async incr (key: string, windowMs: number): Promise<CounterResult> {
    const now = this.now()
    let window = this.windows.get(key)
    if (window === undefined || window.endsAt <= now) {
      if (window !== undefined) this.windows.delete(key)
      else if (this.windows.size >= this.maxEntries) this.evict(now)
      window = { count: 0, endsAt: now + windowMs }
      this.windows.set(key, window)
    }
    window.count++
    return { current: window.count, ttlMs: window.endsAt - now }
  }

  async incrMany (hits: ReadonlyArray<{ key: string, windowMs: number }>): Promise<ManyResult> {
    const counts: CounterResult[] = []
    for (const { key, windowMs } of hits) counts.push(await this.incr(key, windowMs))
    return { counts }
  }

  get size () { return this.windows.size }

  private evict (now: number) {
    for (const [key, window] of this.windows) {
      if (window.endsAt <= now) this.windows.delete(key)
    }
    // Map keeps insertion order: the first entries are the oldest windows.
    const excess = this.windows.size - this.maxEntries + 1
    if (excess <= 0) return
    let dropped = 0
    for (const key of this.windows.keys()) {
      if (dropped++ >= excess) break
      this.windows.delete(key)
    }
  }
}

// INCR and the window's expiry in one atomic step, so every instance sharing the Redis sees
// one count. A key found without an expiry (never expected) gets one rather than living forever.
const HIT_SCRIPT = `
local current = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {current, ttl}
`

// The same for several counters at once (KEYS[i] with window ARGV[i + 1], ARGV[1] = how many):
// one round trip for a request checked against two counters. Keys past the counters are only read
// (GET), so the store values the request needs next come in the same round trip; the last of them
// is the store epoch, written first as ARGV[n + 2] when absent (Store.getManyWithEpoch's contract).
// Flat answer: current1, ttl1, ..., currentN, ttlN, then each read key's value (nil if none), then
// 1 if the epoch was written by this call, else 0.
const HIT_MANY_SCRIPT = `
local n = tonumber(ARGV[1])
local out = {}
for i = 1, n do
  local key = KEYS[i]
  local current = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i + 1])
    ttl = tonumber(ARGV[i + 1])
  end
  out[2 * i - 1] = current
  out[2 * i] = ttl
end
if #KEYS > n then
  local written = redis.call('SET', KEYS[#KEYS], ARGV[n + 2], 'NX')
  for i = n + 1, #KEYS do
    out[n + i] = redis.call('GET', KEYS[i])
  end
  out[n + #KEYS + 1] = written and 1 or 0
end
return out
`

type HitCommand = (key: string, windowMs: number) => Promise<[number, number]>
type HitManyCommand = (numberOfKeys: number, ...keysThenArgs: Array<string | number>) => Promise<Array<number | string | null>>

/**
 * Counters in the store's Redis under `{REDIS_KEY_PREFIX}rl:{family}:{key}`, shared by every
 * instance. Errors (Redis down: the client has no offline queue, so they come at once) are thrown
 * to the caller, which applies RATE_LIMIT_FAIL_OPEN.
 */
export class RedisCounter implements Counter {
  readonly kind = 'redis'
  private readonly hit: HitCommand
  private readonly hitMany: HitManyCommand
  private readonly prefix: string
  private readonly storePrefix: string
  private readonly client: RedisClient

  constructor (client: RedisClient, prefix: string) {
    this.client = client
    this.prefix = prefix + RATE_LIMIT_PREFIX
    this.storePrefix = prefix
    const commands = client as unknown as { emgRateLimitHit?: HitCommand, emgRateLimitHitMany?: HitManyCommand }
    if (typeof commands.emgRateLimitHit !== 'function') {
      // ioredis sends EVALSHA and falls back to EVAL after a Redis restart (NOSCRIPT).
      client.defineCommand('emgRateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT })
    }
    if (typeof commands.emgRateLimitHitMany !== 'function') {
      // No fixed key count: the first argument says how many keys follow.
      client.defineCommand('emgRateLimitHitMany', { lua: HIT_MANY_SCRIPT })
    }
    this.hit = (commands.emgRateLimitHit as HitCommand).bind(client)
    this.hitMany = (commands.emgRateLimitHitMany as HitManyCommand).bind(client)
  }

  async incr (key: string, windowMs: number): Promise<CounterResult> {
    const [current, ttlMs] = await this.hit(this.prefix + key, windowMs)
    return { current: Number(current), ttlMs: Number(ttlMs) }
  }

  async incrMany (hits: ReadonlyArray<{ key: string, windowMs: number }>, reads?: readonly string[]): Promise<ManyResult> {
    if (isCluster(this.client)) return await this.incrManyAcrossSlots(hits, reads)
    const n = hits.length
    // The epoch is read (last) whenever entries are read; `reads: []` reads it alone.
    const keys = reads === undefined ? [] : [...reads, EPOCH_KEY]
    const r = keys.length
    const args: Array<string | number> = new Array(n + r + 1 + (r > 0 ? 1 : 0))
    args[n + r] = n
    for (let i = 0; i < n; i++) {
      args[i] = this.prefix + hits[i].key
      args[n + r + 1 + i] = hits[i].windowMs
    }
    for (let i = 0; i < r; i++) args[n + i] = this.storePrefix + keys[i]
    if (r > 0) args[2 * n + r + 1] = Math.floor(Date.now() / 1000)
    const flat = await this.hitMany(n + r, ...args)
    const counts: CounterResult[] = new Array(n)
    for (let i = 0; i < n; i++) counts[i] = { current: Number(flat[2 * i]), ttlMs: Number(flat[2 * i + 1]) }
    if (r === 0) return { counts }
    const values: Array<string | null> = new Array(r - 1)
    for (let i = 0; i < r - 1; i++) values[i] = (flat[2 * n + i] as string | null | undefined) ?? null
    return { counts, read: { values, epoch: Number(flat[2 * n + r - 1]), reset: Number(flat[2 * n + r]) === 1 } }
  }

  /**
   * A cluster: each counter is in a slot of its own (a user's budget, an address's ceiling) and the
   * epoch in another, so one script cannot hold them. The same work goes out as one command per
   * slot, all in the same tick: the wait is still one round trip (the slowest node's).
   */
  private async incrManyAcrossSlots (hits: ReadonlyArray<{ key: string, windowMs: number }>, reads?: readonly string[]): Promise<ManyResult> {
    const [counts, read] = await Promise.all([
      Promise.all(hits.map(async h => await this.incr(h.key, h.windowMs))),
      reads === undefined ? undefined : readWithEpoch(this.client, this.storePrefix, reads)
    ])
    return read === undefined ? { counts } : { counts, read }
  }
}

type Callback = (err: Error | null, result?: { current: number, ttl: number }) => void

/**
 * Adapts a Counter to @fastify/rate-limit's store protocol (`incr(key, cb, timeWindow, max)`,
 * `child`). Our keys already name their family, so a child is the same store (the library's own
 * stores would key children by route, and the consent POST must share /authorize's budget).
 */
export function rateLimitStore (counter: Counter) {
  return class FamilyStore {
    incr (key: string, cb: Callback, timeWindow: number) {
      counter.incr(key, timeWindow).then(
        r => cb(null, { current: r.current, ttl: r.ttlMs }),
        err => cb(err as Error)
      )
    }

    child () {
      return this
    }
  }
}
