import { StoreUnavailableError, type EpochRead, type IndexEntry, type Store } from './contract.ts'
import { EPOCH_KEY, oneSlot } from './keys.ts'
import { isCluster, type RedisClient } from './connection.ts'

// The epoch written if absent, and read, in one step on its own key (a cluster keeps it in its own slot).
const EPOCH_SCRIPT = `
local written = redis.call('SET', KEYS[1], ARGV[1], 'NX')
return {redis.call('GET', KEYS[1]), written and 1 or 0}
`
type EpochCommand = (key: string, now: number) => Promise<[string, number]>

function epochCommand (client: RedisClient): EpochCommand {
  const commands = client as unknown as { emgStoreEpoch?: EpochCommand }
  if (typeof commands.emgStoreEpoch !== 'function') client.defineCommand('emgStoreEpoch', { numberOfKeys: 1, lua: EPOCH_SCRIPT })
  return (commands.emgStoreEpoch as EpochCommand).bind(client)
}

/**
 * Values of `keys` (full names) in order: one MGET when they share a slot (or on one node), else one
 * GET each, sent in the same tick (auto-pipelining writes them to each node at once).
 */
export async function readKeys (client: RedisClient, keys: readonly string[]): Promise<Array<string | null>> {
  if (keys.length === 0) return []
  if (!isCluster(client) || oneSlot(keys)) return await client.mget(...keys)
  return await Promise.all(keys.map(async k => await client.get(k)))
}

/**
 * `Store.getManyWithEpoch` on Redis (`keys` without prefix). One node: a MULTI, the set-if-absent
 * and the reads in one round trip with nothing in between. A cluster: the epoch lives in a slot of
 * its own, so the epoch script and the reads go out side by side (still one round trip in time,
 * two commands or more; docs/architecture.md, "Keys and hash slots").
 */
export async function readWithEpoch (client: RedisClient, prefix: string, keys: readonly string[]): Promise<EpochRead> {
  const epochKey = prefix + EPOCH_KEY
  const now = Math.floor(Date.now() / 1000)
  const full = keys.map(k => prefix + k)
  if (isCluster(client)) {
    const [[epoch, written], values] = await Promise.all([epochCommand(client)(epochKey, now), readKeys(client, full)])
    return { values, epoch: Number(epoch), reset: Number(written) === 1 }
  }
  const replies = await client.multi()
    .set(epochKey, String(now), 'NX')
    .mget(...full, epochKey)
    .exec()
  const [[setErr, written], [getErr, read]] = replies as Array<[Error | null, unknown]>
  if (setErr !== null || getErr !== null) throw setErr ?? getErr
  const values = read as Array<string | null>
  return { values: values.slice(0, keys.length), epoch: Number(values[keys.length]), reset: written === 'OK' }
}

/** Shared by every instance. Any Redis failure becomes a StoreUnavailableError (HTTP 503). */
export class RedisStore implements Store {
  readonly kind = 'redis'
  readonly client: RedisClient
  private readonly prefix: string

  constructor (client: RedisClient, prefix = 'emg:') {
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
    return this.run(() => readKeys(this.client, keys.map(k => this.prefix + k)))
  }

  async getManyWithEpoch (keys: string[]): Promise<EpochRead> {
    return this.run(() => readWithEpoch(this.client, this.prefix, keys))
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

  /** One MULTI on one key (any slot); a failed command in it fails the call. */
  private async multiOn (build: (multi: ReturnType<RedisClient['multi']>) => unknown): Promise<unknown[]> {
    return await this.run(async () => {
      const multi = this.client.multi()
      build(multi)
      const replies = (await multi.exec()) as Array<[Error | null, unknown]>
      const failed = replies.find(([err]) => err !== null)?.[0]
      if (failed != null) throw failed
      return replies.map(([, reply]) => reply)
    })
  }

  async indexAdd (key: string, member: string, score: number, opts: { expired: number, ttlSeconds: number }) {
    const full = this.prefix + key
    await this.multiOn(multi => {
      multi.zremrangebyscore(full, '-inf', opts.expired).zadd(full, score, member)
      if (opts.ttlSeconds > 0) multi.expire(full, opts.ttlSeconds)
      else multi.persist(full)
    })
  }

  async indexRemove (key: string, members: readonly string[]) {
    if (members.length === 0) return
    await this.run(() => this.client.zrem(this.prefix + key, ...members))
  }

  async indexRange (key: string, opts: { expired: number, limit: number }): Promise<IndexEntry[]> {
    if (opts.limit <= 0) return []
    const full = this.prefix + key
    const [, flat] = await this.multiOn(multi => multi.zremrangebyscore(full, '-inf', opts.expired).zrevrange(full, 0, opts.limit - 1, 'WITHSCORES'))
    const pairs = flat as string[]
    const entries: IndexEntry[] = []
    for (let i = 0; i < pairs.length; i += 2) entries.push({ member: pairs[i], score: Number(pairs[i + 1]) })
    return entries
  }

  async indexCount (key: string, expired: number) {
    return await this.run(() => this.client.zcount(this.prefix + key, `(${expired}`, '+inf'))
  }

  /**
   * A cluster answers when every primary does (a failed one holds its slots until a replica takes
   * over). The message counts them, without addresses: readiness is public.
   */
  async ping () {
    const { client } = this
    if (!isCluster(client)) {
      await this.run(() => client.ping())
      return
    }
    const unavailable = (message: string) => Object.assign(new StoreUnavailableError(), { message })
    if (client.status !== 'ready') throw unavailable(`cluster ${client.status}`)
    const primaries = client.nodes('master')
    const answers = await Promise.allSettled(primaries.map(async node => await node.ping()))
    const silent = answers.filter(a => a.status === 'rejected').length
    if (primaries.length === 0 || silent > 0) throw unavailable(`cluster: ${silent} of ${primaries.length} primaries do not answer`)
  }

  async close () {
    this.client.disconnect()
  }
}
