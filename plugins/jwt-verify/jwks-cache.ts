import { createPublicKey } from 'node:crypto'

/**
 * The signing keys of one remote issuer (an Entra tenant's `discovery/v2.0/keys`), kept as a whole
 * key set, with each key converted once into whatever the caller needs (a fast-jwt verifier).
 *
 * - The set is cached for `ttlMs` (1 hour) and then refetched; while the endpoint is down the last
 *   good set keeps serving ("stale"), and a failed fetch is not retried for `retryMs`.
 * - A kid missing from a fresh set triggers a refetch at most once per `retryMs` (30 s): rotation
 *   is picked up at once, and tokens with made-up kids cannot make us hammer the endpoint.
 * - A key that disappears from the set is dropped at the next refetch.
 * - Each fetch is bounded in time (`timeoutMs`, with an AbortSignal) and size; concurrent lookups
 *   share one fetch. The URL is fixed at construction: nothing from a token ever reaches it.
 */
export interface KeySetOptions<K> {
  url: string
  /** Turns one verified-looking RSA JWK into the cached form (called once per key and fetch). */
  convert: (jwk: RsaJwk, pem: string) => K
  ttlMs?: number
  retryMs?: number
  timeoutMs?: number
  maxBytes?: number
  now?: () => number
  fetch?: typeof fetch
  /** Told about fetch failures and refused keys (for a log line). */
  onProblem?: (message: string, detail: Record<string, unknown>) => void
  /** Told after each fetch of the set, whether it gave a usable set (for metrics). */
  onRefresh?: (ok: boolean) => void
}

export interface RsaJwk { kty: 'RSA', kid: string, n: string, e: string, alg?: string, use?: string }

export type FetchState = 'fresh' | 'stale' | 'none'

export class RemoteKeySet<K> {
  readonly url: string
  private readonly convert: KeySetOptions<K>['convert']
  private readonly ttlMs: number
  private readonly retryMs: number
  private readonly timeoutMs: number
  private readonly maxBytes: number
  private readonly now: () => number
  private readonly fetchImpl: typeof fetch
  private readonly onProblem: NonNullable<KeySetOptions<K>['onProblem']>
  private readonly onRefresh: KeySetOptions<K>['onRefresh']

  private keys: Map<string, K> | null = null
  private fetchedAt = -Infinity
  private lastFailureAt = -Infinity
  private lastUnknownKidFetchAt = -Infinity
  private inflight: Promise<void> | null = null
  /** Number of HTTP fetches started (for tests and the bench). */
  fetches = 0

  constructor (opts: KeySetOptions<K>) {
    this.url = opts.url
    this.convert = opts.convert
    this.ttlMs = opts.ttlMs ?? 3600_000
    this.retryMs = opts.retryMs ?? 30_000
    this.timeoutMs = opts.timeoutMs ?? 3000
    this.maxBytes = opts.maxBytes ?? 256 * 1024
    this.now = opts.now ?? Date.now
    this.fetchImpl = opts.fetch ?? fetch
    this.onProblem = opts.onProblem ?? (() => {})
    this.onRefresh = opts.onRefresh
  }

  get state (): FetchState {
    if (this.keys === null) return 'none'
    return this.now() - this.fetchedAt < this.ttlMs ? 'fresh' : 'stale'
  }

  /** The key for `kid` when the set is fresh and holds it: no promise, no I/O (the hot path). */
  peek (kid: string): K | undefined {
    if (this.keys === null || this.now() - this.fetchedAt >= this.ttlMs) return undefined
    return this.keys.get(kid)
  }

  /** The key for `kid`, fetching the set when it is missing, expired, or lacks the kid (throttled). */
  async get (kid: string): Promise<K | undefined> {
    const now = this.now()
    const canRetry = now - this.lastFailureAt >= this.retryMs
    if (this.keys === null || now - this.fetchedAt >= this.ttlMs) {
      if (canRetry) await this.refresh()
      return this.keys?.get(kid)
    }
    const key = this.keys.get(kid)
    if (key !== undefined) return key
    if (!canRetry || now - this.lastUnknownKidFetchAt < this.retryMs) return undefined
    this.lastUnknownKidFetchAt = now
    await this.refresh()
    return this.keys?.get(kid)
  }

  /** Fetches the set now (shared by concurrent callers); failures keep the previous set. */
  refresh (): Promise<void> {
    this.inflight ??= this.load().finally(() => { this.inflight = null })
    return this.inflight
  }

  private async load (): Promise<void> {
    this.fetches++
    try {
      const body = await this.download()
      const keys = new Map<string, K>()
      const list: unknown[] = Array.isArray((body as { keys?: unknown })?.keys) ? (body as { keys: unknown[] }).keys : []
      for (const jwk of list) {
        const usable = usableJwk(jwk)
        if (usable === undefined) continue
        try {
          const pem = createPublicKey({ key: usable as any, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString()
          keys.set(usable.kid, this.convert(usable, pem))
        } catch (err) {
          this.onProblem('a key in the JWKS cannot be used', { kid: usable.kid, reason: (err as Error).message })
        }
      }
      if (keys.size === 0) throw new Error('the JWKS holds no usable RS256 key')
      this.keys = keys
      this.fetchedAt = this.now()
      this.lastFailureAt = -Infinity
      this.onRefresh?.(true)
    } catch (err) {
      this.lastFailureAt = this.now()
      this.onProblem('cannot fetch signing keys; cached keys (if any) keep serving', {
        url: this.url, reason: (err as Error).name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : (err as Error).message, cached_keys: this.keys?.size ?? 0
      })
      this.onRefresh?.(false)
    }
  }

  private async download (): Promise<unknown> {
    const signal = AbortSignal.timeout(this.timeoutMs)
    const response = await this.fetchImpl(this.url, { signal, redirect: 'error', headers: { accept: 'application/json' } })
    if (!response.ok) {
      await response.body?.cancel().catch(() => {})
      throw new Error(`the JWKS endpoint answered HTTP ${response.status}`)
    }
    const declared = Number(response.headers.get('content-length') ?? 0)
    if (declared > this.maxBytes) {
      await response.body?.cancel().catch(() => {})
      throw new Error(`the JWKS is larger than ${this.maxBytes} bytes`)
    }
    const chunks: Uint8Array[] = []
    let size = 0
    if (response.body !== null) {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength
        if (size > this.maxBytes) throw new Error(`the JWKS is larger than ${this.maxBytes} bytes`)
        chunks.push(chunk)
      }
    }
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new Error('the JWKS is not JSON')
    }
  }
}

/** An RSA signing key we could use for RS256, or undefined. */
export function usableJwk (value: unknown): RsaJwk | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const jwk = value as Record<string, unknown>
  if (jwk.kty !== 'RSA' || typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return undefined
  if (typeof jwk.kid !== 'string' || jwk.kid === '' || jwk.kid.length > 256) return undefined
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined
  if (jwk.alg !== undefined && jwk.alg !== 'RS256') return undefined
  // 2048 bits at least: the modulus is base64url, 4 characters per 3 bytes.
  if (jwk.n.length < 342) return undefined
  return { kty: 'RSA', kid: jwk.kid, n: jwk.n, e: jwk.e, alg: jwk.alg as string | undefined, use: jwk.use as string | undefined }
}
