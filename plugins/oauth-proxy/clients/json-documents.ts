// What both fetchers of client-published JSON (client ID metadata documents in clients/registry.ts,
// client key sets in client-auth/private-key-jwt.ts) add on top of safeFetch: the JSON checks,
// caching per Cache-Control in the store, and one fetch per URL at a time.
import type { FastifyBaseLogger } from 'fastify'
import { getJson, setJson, type Store } from '../../store/contract.ts'
import { cacheSeconds, isJsonContentType, safeFetch, SafeFetchError, type CacheBounds, type SafeFetchOptions } from '../../shared/safe-fetch.ts'

export interface JsonDocumentsOptions<T> {
  store: Store
  log: FastifyBaseLogger
  /** The store key the accepted value is cached at (plugins/store/keys.ts). */
  key: (url: string) => string
  cache: CacheBounds
  fetch: SafeFetchOptions
  /** How refusals name the document ("the document"), the type it must be served as, and whether a 3xx is called a redirect. */
  names: { what: string, type: string, redirects?: boolean }
  /** The value to keep from the parsed body, or the reason the document is refused. */
  parse: (body: unknown, url: string) => T | string
}

export interface JsonDocuments<T> {
  /** The cached value for this URL, or null. */
  cached (url: string): Promise<T | null>
  /**
   * Fetches the document under the guard, checks it (200, JSON, `parse`) and caches the value per
   * its Cache-Control. Concurrent calls for one URL share one fetch. Rejects with a SafeFetchError
   * whose message is the reason (fit for an error description).
   */
  fetch (url: string): Promise<T>
}

export function jsonDocuments<T> (opts: JsonDocumentsOptions<T>): JsonDocuments<T> {
  const { what, type, redirects = false } = opts.names
  const key = opts.key
  const refused = (reason: string) => new SafeFetchError('refused', reason)
  const inFlight = new Map<string, Promise<T>>()

  async function download (url: string): Promise<T> {
    let response
    try {
      response = await safeFetch(url, opts.fetch)
    } catch (err) {
      if (err instanceof SafeFetchError) throw err
      // Not expected: still a refusal of someone else's document, never a 500.
      opts.log.warn({ err, url }, `fetch of ${what} failed unexpectedly`)
      throw refused(`${what} could not be fetched`)
    }
    if (redirects && response.status >= 300 && response.status < 400) throw refused(`the server answered a redirect (HTTP ${response.status}); redirects are not followed`)
    if (response.status !== 200) throw refused(`the server answered HTTP ${response.status}`)
    if (!isJsonContentType(response.headers['content-type'])) throw refused(`${what} is not served as ${type}`)
    let body: unknown
    try {
      body = JSON.parse(response.body.toString('utf8'))
    } catch {
      throw refused(`${what} is not valid JSON`)
    }
    const value = opts.parse(body, url)
    if (typeof value === 'string') throw refused(value)
    await setJson(opts.store, key(url), value, cacheSeconds(response.headers['cache-control'], opts.cache))
    return value
  }

  return {
    async cached (url) {
      return await getJson<T>(opts.store, key(url))
    },
    fetch (url) {
      let pending = inFlight.get(url)
      if (pending === undefined) {
        pending = download(url).finally(() => inFlight.delete(url))
        inFlight.set(url, pending)
      }
      return pending
    }
  }
}
