import type { AccessToken, TokenCredential } from '@azure/identity'
import type { Cluster, Redis } from 'ioredis'
import type { RedisEntraAuth } from '../../config/index.ts'

// Microsoft Entra authentication to Redis (REDIS_AUTH=entra): the identity's token is the password,
// its object id the user name. Tokens expire, and Azure drops a connection whose token has expired
// unless the client sends AUTH with a fresh one first; so every connection the client holds is
// re-authenticated well before expiry, and every new connection starts with the current token.

/** The scope of a token for Azure Managed Redis and Azure Cache for Redis. */
export const REDIS_SCOPE = 'https://redis.azure.com/.default'

const FIVE_MINUTES = 5 * 60 * 1000
const RETRY_FIRST_MS = 1000
const RETRY_MAX_MS = 60000

export interface AuthLog {
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

/** Time as the refresh sees it; tests drive it by hand. */
export interface AuthClock {
  now: () => number
  setTimeout: (fn: () => void, ms: number) => unknown
  clearTimeout: (handle: unknown) => void
}

const systemClock: AuthClock = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: handle => { clearTimeout(handle as NodeJS.Timeout) }
}

export interface RedisTokenAuthOptions {
  credential: TokenCredential
  log: AuthLog
  clock?: AuthClock
}

interface Current { username: string, password: string, expiresOn: number }

/** The credential config chose; @azure/identity is loaded only when Entra authentication is on. */
export async function entraCredential (settings: RedisEntraAuth): Promise<TokenCredential> {
  const identity = await import('@azure/identity')
  if (settings.credential === 'default') return new identity.DefaultAzureCredential()
  return settings.clientId !== undefined
    ? new identity.ManagedIdentityCredential({ clientId: settings.clientId })
    : new identity.ManagedIdentityCredential()
}

/**
 * The user name Redis knows the identity by: the `oid` claim of its own token. The token comes from
 * our own credential over TLS, so its payload is read without checking the signature (Redis checks
 * it). Errors never quote the token.
 */
export function tokenObjectId (token: string): string {
  const parts = token.split('.')
  let claims: unknown
  try {
    claims = parts.length === 3 ? JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) : undefined
  } catch {
    claims = undefined
  }
  if (claims === undefined || claims === null || typeof claims !== 'object') throw new Error('the credential returned a token that is not a JWT')
  const oid = (claims as { oid?: unknown }).oid
  if (typeof oid !== 'string' || oid === '') throw new Error('the token has no oid claim (the object id Redis knows the identity by)')
  return oid
}

/**
 * Milliseconds from `obtainedAt` to the next refresh: at 80 % of the token's lifetime or five
 * minutes before it expires, whichever comes first (half the lifetime for a token shorter than
 * that), and no later than the credential's own refresh hint.
 */
export function refreshDelay (obtainedAt: number, token: AccessToken): number {
  const lifetime = token.expiresOnTimestamp - obtainedAt
  let delay = Math.max(Math.min(lifetime * 0.8, lifetime - FIVE_MINUTES), lifetime * 0.5)
  if (token.refreshAfterTimestamp !== undefined && token.refreshAfterTimestamp > obtainedAt) {
    delay = Math.min(delay, token.refreshAfterTimestamp - obtainedAt)
  }
  return Math.max(Math.floor(delay), 1000)
}

/** A short, token-free description of why a token could not be had. */
function describe (err: unknown): string {
  const e = err as Error
  const text = `${e?.name ?? 'Error'}: ${String(e?.message ?? err)}`.split('\n')[0]
  return text.length > 300 ? `${text.slice(0, 297)}...` : text
}

/**
 * Keeps a token from `credential` for Redis and every attached connection authenticated with it.
 * Attach single-node clients with `attach` and clusters with `attachCluster` (each node connection
 * is attached as the cluster makes it).
 */
export class RedisTokenAuth {
  private readonly credential: TokenCredential
  private readonly log: AuthLog
  private readonly clock: AuthClock
  private readonly connections = new Set<Redis>()
  private readonly clusters = new Set<Cluster>()
  private current: Current | undefined
  private lastError: string | undefined
  private failures = 0
  private timer: unknown
  private stopped = false
  private firstAttempt: Promise<void> | undefined

  constructor (opts: RedisTokenAuthOptions) {
    this.credential = opts.credential
    this.log = opts.log
    this.clock = opts.clock ?? systemClock
  }

  /** Starts getting tokens; resolves after the first attempt, whatever its outcome. */
  start (): Promise<void> {
    this.firstAttempt ??= this.refresh()
    return this.firstAttempt
  }

  stop (): void {
    this.stopped = true
    this.clock.clearTimeout(this.timer)
  }

  /** A valid token: its expiry and user name (never the token). */
  get valid (): { username: string, expiresOn: number } | undefined {
    const current = this.current
    if (current === undefined || this.clock.now() >= current.expiresOn) return undefined
    return { username: current.username, expiresOn: current.expiresOn }
  }

  /** For /health/ready: not ready while there is no valid token. */
  readiness (): { ok: boolean, detail: string } {
    const valid = this.valid
    if (valid === undefined) {
      const why = this.lastError ?? (this.current === undefined ? 'the first token is being requested' : 'the token expired')
      return { ok: false, detail: `entra: no valid Microsoft Entra token for Redis (${why})` }
    }
    const until = new Date(valid.expiresOn).toISOString()
    return this.lastError === undefined
      ? { ok: true, detail: `entra: token for ${valid.username} valid until ${until}` }
      : { ok: true, detail: `entra: refreshing the token fails (${this.lastError}); the current one is valid until ${until}` }
  }

  /**
   * Authenticates `redis` with the current token at every (re)connect and re-authenticates it on each
   * refresh. A client made with `lazyConnect` is connected once a token is there.
   */
  attach (redis: Redis): void {
    this.connections.add(redis)
    redis.once('end', () => this.connections.delete(redis))
    // A connection that was being opened while the token changed may have used the old one.
    let connectedWith: string | undefined
    redis.on('connecting', () => { connectedWith = redis.options.password })
    redis.on('ready', () => {
      const current = this.current
      if (current !== undefined && connectedWith !== current.password) this.reauthenticate(redis, current)
    })
    if (this.current !== undefined) this.apply(redis, this.current)
  }

  /** Every node connection the cluster makes, now or later, is attached. */
  attachCluster (cluster: Cluster): void {
    this.clusters.add(cluster)
    for (const node of cluster.nodes('all')) this.attach(node)
    cluster.on('+node', (node: Redis) => { this.attach(node) })
    if (this.current !== undefined) this.applyCluster(cluster, this.current)
  }

  /** Nodes the cluster makes from now on start with this token; a cluster made with `lazyConnect` connects now. */
  private applyCluster (cluster: Cluster, current: Current): void {
    cluster.options.redisOptions = { ...cluster.options.redisOptions, username: current.username, password: current.password }
    if (cluster.status === 'wait') cluster.connect().catch(() => {})
  }

  private apply (redis: Redis, current: Current): void {
    redis.options.username = current.username
    redis.options.password = current.password
    if (redis.status === 'wait') redis.connect().catch(() => {})
    else if (redis.status === 'ready') this.reauthenticate(redis, current)
  }

  private reauthenticate (redis: Redis, current: Current): void {
    redis.auth(current.username, current.password).catch((err: Error) => {
      // The connection stays signed in with the previous token until it expires; it then reconnects with the new one.
      this.log.error({ err: { message: describe(err) }, redis_user: current.username }, 'redis AUTH with the refreshed Microsoft Entra token failed on a connection')
    })
  }

  private async refresh (): Promise<void> {
    if (this.stopped) return
    const startedAt = this.clock.now()
    let token: AccessToken | null
    let username: string
    try {
      token = await this.credential.getToken(REDIS_SCOPE)
      if (token === null) throw new Error('the credential returned no token')
      username = tokenObjectId(token.token)
    } catch (err) {
      this.failed(err)
      return
    }
    if (this.stopped) return
    this.succeeded({ username, password: token.token, expiresOn: token.expiresOnTimestamp })
    this.schedule(refreshDelay(startedAt, token))
  }

  private succeeded (next: Current): void {
    const changed = this.current?.password !== next.password
    if (this.lastError !== undefined) this.log.info({ redis_user: next.username }, 'Microsoft Entra token for Redis obtained again')
    this.current = next
    this.lastError = undefined
    this.failures = 0
    if (!changed) return
    for (const cluster of this.clusters) this.applyCluster(cluster, next)
    for (const redis of this.connections) this.apply(redis, next)
  }

  private failed (err: unknown): void {
    this.lastError = describe(err)
    const delay = Math.min(RETRY_FIRST_MS * 2 ** this.failures, RETRY_MAX_MS)
    this.failures += 1
    const valid = this.valid
    this.log[valid === undefined ? 'error' : 'warn']({
      reason: this.lastError,
      attempt: this.failures,
      retry_in_ms: delay,
      token_valid_until: valid === undefined ? null : new Date(valid.expiresOn).toISOString()
    }, 'could not get a Microsoft Entra token for Redis; retrying')
    this.schedule(delay)
  }

  private schedule (ms: number): void {
    if (this.stopped) return
    this.clock.clearTimeout(this.timer)
    this.timer = this.clock.setTimeout(() => { this.refresh().catch(() => {}) }, ms)
  }
}
