import type { Redis } from 'ioredis'

/** One fixed window: how many hits so far, and how long until the window ends. */
export interface CounterResult { current: number, ttlMs: number }

export interface Counter {
  readonly kind: 'redis' | 'memory'
  /** Counts one hit on `key`; the window (and its expiry) starts with the first hit. */
  incr (key: string, windowMs: number): Promise<CounterResult>
}

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

type HitCommand = (key: string, windowMs: number) => Promise<[number, number]>

/**
 * Counters in the store's Redis under `{REDIS_KEY_PREFIX}rl:{family}:{key}`, shared by every
 * instance. Errors (Redis down: the client has no offline queue, so they come at once) are thrown
 * to the caller, which applies RATE_LIMIT_FAIL_OPEN.
 */
export class RedisCounter implements Counter {
  readonly kind = 'redis'
  private readonly hit: HitCommand
  private readonly prefix: string

  constructor (client: Redis, prefix: string) {
    this.prefix = `${prefix}rl:`
    const commands = client as unknown as { emgRateLimitHit?: HitCommand }
    if (typeof commands.emgRateLimitHit !== 'function') {
      // ioredis sends EVALSHA and falls back to EVAL after a Redis restart (NOSCRIPT).
      client.defineCommand('emgRateLimitHit', { numberOfKeys: 1, lua: HIT_SCRIPT })
    }
    this.hit = (commands.emgRateLimitHit as HitCommand).bind(client)
  }

  async incr (key: string, windowMs: number): Promise<CounterResult> {
    const [current, ttlMs] = await this.hit(this.prefix + key, windowMs)
    return { current: Number(current), ttlMs: Number(ttlMs) }
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
