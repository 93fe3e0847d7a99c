// The one place an ioredis client is made: one node, or a Redis Cluster reached through one of its
// nodes (REDIS_CLUSTER=true). Options that concern a connection (credentials, TLS, time bounds)
// are the same for both: the cluster gives them to every node it connects to.
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis'

/** The store's client: one node, or a cluster (`client.isCluster`). */
export type RedisClient = Redis | Cluster

export interface RedisTarget {
  /** redis:// or rediss:// (TLS); for a cluster, any one node (the others are discovered). */
  url: string
  cluster?: boolean
}

/** Options of every connection, for both kinds: merged over the defaults (a credential hook goes here). */
export type ConnectionOptions = Partial<Omit<RedisOptions, 'host' | 'port' | 'retryStrategy' | 'enableOfflineQueue'>>

/**
 * Bounded connect and command times and no offline queue (a command fails at once instead of
 * waiting): the service answers 503 while Redis is away and recovers by itself.
 */
const CONNECTION: RedisOptions = {
  connectTimeout: 2000,
  commandTimeout: 1500,
  maxRetriesPerRequest: 1,
  // Commands issued in the same tick (the rate-limit hits and revocation lookup of concurrent
  // requests) go out in one socket write instead of one write each.
  enableAutoPipelining: true
}

const backoff = (attempt: number) => Math.min(attempt * 250, 2000)

/** True for a cluster client (ioredis' `isCluster`, as a type guard). */
export function isCluster (client: RedisClient): client is Cluster {
  return client instanceof Cluster
}

export function createRedisClient (target: string | { url: string, cluster?: false }, connection?: ConnectionOptions): Redis
export function createRedisClient (target: RedisTarget, connection?: ConnectionOptions): RedisClient
export function createRedisClient (target: RedisTarget | string, connection: ConnectionOptions = {}): RedisClient {
  const { url, cluster = false } = typeof target === 'string' ? { url: target } : target
  if (!cluster) {
    return new Redis(url, { ...CONNECTION, enableOfflineQueue: false, retryStrategy: backoff, lazyConnect: false, ...connection })
  }
  // lazyConnect (Entra authentication: connect once a token is there) holds the cluster itself too.
  return new Cluster([nodeOf(url)], { ...clusterOptions(url, connection), lazyConnect: connection.lazyConnect === true })
}

function nodeOf (url: string): { host: string, port: number } {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: parsed.port === '' ? 6379 : Number(parsed.port) }
}

/**
 * A cluster as Azure Managed Redis (OSS cluster policy) presents it: nodes announce addresses that
 * the certificate of the public host name covers, so TLS names that host (servername) whatever the
 * address, and addresses are used as announced (no DNS lookup of an IP). Reads go to primaries
 * only: a replica may lag, and a revocation read there could miss a fresh deny entry.
 */
export function clusterOptions (url: string, connection: ConnectionOptions = {}): ClusterOptions {
  const parsed = new URL(url)
  const credentials = {
    ...(parsed.username !== '' ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password !== '' ? { password: decodeURIComponent(parsed.password) } : {})
  }
  const { enableAutoPipelining: _onOneNodeOnly, ...perNode } = CONNECTION
  return {
    enableOfflineQueue: false,
    // Off: ioredis 6's automatic pipelines per slot lost track of their callbacks when a node
    // answered a pipeline short (seen here: "results[i] is not iterable", then commands that never
    // settle). Each command is written on its own; concurrent ones still share the round trip.
    enableAutoPipelining: false,
    scaleReads: 'master',
    dnsLookup: (address, callback) => { callback(null, address) },
    // After a failover, slots move to the promoted replica: MOVED answers and this refresh find it.
    slotsRefreshInterval: 2000,
    slotsRefreshTimeout: 1500,
    // A command to a failed primary is retried on a fresh slot map every 200 ms, at most 6 times:
    // it fails (503) within about 1.5 s rather than holding the request.
    maxRedirections: 6,
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    clusterRetryStrategy: backoff,
    redisOptions: {
      ...perNode,
      ...credentials,
      ...(parsed.protocol === 'rediss:' ? { tls: { servername: parsed.hostname } } : {}),
      ...connection
    }
  }
}
