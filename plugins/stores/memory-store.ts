import type { EpochRead, Store } from './store.ts'

interface Entry { value: string, expiresAt: number }

/**
 * One process only: state dies with it and is not seen by other instances.
 * Bounded: past `maxEntries` the oldest entry is dropped. Its epoch is the moment it was made
 * (kept outside the bounded entries, never dropped): a restart is a wipe.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory'
  private readonly entries = new Map<string, Entry>()
  private readonly maxEntries: number
  private readonly now: () => number
  private readonly sweeper: NodeJS.Timeout
  private readonly epoch: number

  constructor (opts: { maxEntries?: number, now?: () => number } = {}) {
    this.maxEntries = opts.maxEntries ?? 100000
    this.now = opts.now ?? Date.now
    this.sweeper = setInterval(() => this.sweep(), 60000).unref()
    this.epoch = Math.floor(this.now() / 1000)
  }

  private live (key: string): Entry | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== 0 && entry.expiresAt <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return entry
  }

  private put (key: string, value: string, ttlSeconds = 0): void {
    this.entries.delete(key)
    if (this.entries.size >= this.maxEntries) {
      this.sweep()
      if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value as string)
    }
    this.entries.set(key, { value, expiresAt: ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : 0 })
  }

  sweep (): void {
    const now = this.now()
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== 0 && entry.expiresAt <= now) this.entries.delete(key)
    }
  }

  get size (): number {
    return this.entries.size
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
    this.entries.delete(key)
    return entry?.value ?? null
  }

  async delete (key: string) {
    this.entries.delete(key)
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

  async ping () {}

  async close () {
    clearInterval(this.sweeper)
    this.entries.clear()
  }
}
