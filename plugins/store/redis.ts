import type { Redis } from 'ioredis'
import { StoreUnavailableError, type EpochRead, type Store } from './contract.ts'
import { EPOCH_KEY } from './keys.ts'

/** Shared by every instance. Any Redis failure becomes a StoreUnavailableError (HTTP 503). */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly client: Redis
  private readonly prefix: string

  constructor (client: Redis, prefix = 'emg:') {
    this.client = client
    this.prefix = prefix
  }

  private async run<T> (command: () => Promise<T>): Promise<T> {
    try {
      return await command()
    } catch (err) {
      throw new StoreUnavailableError({ cause: err })
    }
  }

  async get (key: string) {
    return this.run(() => this.client.get(this.prefix + key))
  }

  async getMany (keys: string[]) {
    if (keys.length === 0) return []
    return this.run(() => this.client.mget(keys.map(k => this.prefix + k)))
  }

  async getManyWithEpoch (keys: string[]): Promise<EpochRead> {
    const epochKey = this.prefix + EPOCH_KEY
    const now = Math.floor(Date.now() / 1000)
    // MULTI: the set-if-absent and the reads in one round trip, with nothing in between.
    const replies = await this.run(async () => await this.client.multi()
      .set(epochKey, String(now), 'NX')
      .mget(...keys.map(k => this.prefix + k), epochKey)
      .exec())
    const [[setErr, written], [getErr, read]] = replies as Array<[Error | null, unknown]>
    if (setErr !== null || getErr !== null) throw new StoreUnavailableError({ cause: setErr ?? getErr })
    const values = read as Array<string | null>
    return { values: values.slice(0, keys.length), epoch: Number(values[keys.length]), reset: written === 'OK' }
  }

  async set (key: string, value: string, ttlSeconds?: number) {
    await this.run(() => ttlSeconds !== undefined && ttlSeconds > 0
      ? this.client.set(this.prefix + key, value, 'EX', ttlSeconds)
      : this.client.set(this.prefix + key, value))
  }

  async take (key: string) {
    return this.run(() => this.client.getdel(this.prefix + key))
  }

  async delete (key: string) {
    await this.run(() => this.client.del(this.prefix + key))
  }

  async incr (key: string, ttlSeconds: number) {
    // SET NX starts the window (and its TTL) once; EXPIRE NX would need Redis 7, Azure Cache still runs 6.
    const [[setErr], [incrErr, count]] = await this.run(async () => (await this.client.multi()
      .set(this.prefix + key, '0', 'EX', ttlSeconds, 'NX')
      .incr(this.prefix + key)
      .exec()) as Array<[Error | null, unknown]>)
    if (setErr !== null || incrErr !== null) throw new StoreUnavailableError({ cause: setErr ?? incrErr })
    return count as number
  }

  async ping () {
    await this.run(() => this.client.ping())
  }

  async close () {
    this.client.disconnect()
  }
}
