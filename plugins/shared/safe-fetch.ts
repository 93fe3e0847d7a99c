// An outbound HTTPS GET for URLs that an untrusted party chose (client ID metadata documents).
// It must not become a way into the private network (SSRF): https only, every address the name
// resolves to must be public, the connection goes to one of exactly those checked addresses
// (pinned, so a second DNS answer cannot swap in a private one), no redirects, bounded time and size.
// Its two users (client ID metadata documents, client key sets) fetch through jsonDocuments()
// (plugins/oauth-proxy/clients/json-documents.ts).
import { lookup as dnsLookup } from 'node:dns/promises'
import type { LookupFunction } from 'node:net'
import { reasonedError } from './reasoned-error.ts'
import ipaddr from 'ipaddr.js'
import { Agent, request, type Dispatcher } from 'undici'

export interface ResolvedAddress { address: string, family: 4 | 6 }
/** Resolves a host name to every address it has (A and AAAA). */
export type Resolver = (hostname: string) => Promise<ResolvedAddress[]>
/** Whether the service may connect to this IP address. */
export type AddressPolicy = (address: string) => boolean

export interface SafeFetchOptions {
  resolve?: Resolver
  isAllowedAddress?: AddressPolicy
  /** Total time for resolution, connection, headers and body. */
  timeoutMs?: number
  maxBytes?: number
  /** Extra trusted CA certificates (tests with a self-signed server). */
  ca?: string | Buffer | Array<string | Buffer>
  accept?: string
}

export interface SafeFetchResult {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

/** `refused`: an answer came, but not an acceptable document (status, type, JSON, the caller's rules). */
export type SafeFetchFailure = 'invalid_url' | 'not_https' | 'dns' | 'blocked_address' | 'timeout' | 'too_large' | 'network' | 'refused'

/** Why a guarded fetch gave no document; the message is the reason, fit for an error description. */
export class SafeFetchError extends reasonedError<SafeFetchFailure>('FST_ERR_SAFE_FETCH', 'SafeFetchError') {}

export const DEFAULT_TIMEOUT_MS = 5000
export const DEFAULT_MAX_BYTES = 5 * 1024

/**
 * Only globally routable unicast addresses. Everything else is refused: private (10/8, 172.16/12,
 * 192.168/16), loopback, link-local (169.254/16 — cloud metadata — and fe80::/10), unique-local
 * fc00::/7, unspecified, CGNAT 100.64/10, multicast, broadcast, documentation and benchmarking
 * ranges, and IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo) unless the
 * embedded IPv4 address is itself public (mapped form only).
 */
export function isPublicAddress (address: string): boolean {
  if (!ipaddr.isValid(address)) return false
  let parsed = ipaddr.parse(address)
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address()
  }
  return parsed.range() === 'unicast'
}

export const systemResolver: Resolver = async (hostname) => {
  const answers = await dnsLookup(hostname, { all: true, verbatim: true })
  return answers.map(a => ({ address: a.address, family: a.family === 6 ? 6 : 4 }))
}

/**
 * GET `url` under the guard. Resolves with the status, headers and (bounded) body of whatever
 * answered, redirects included (they are not followed: the caller decides what a status means).
 * Rejects with a SafeFetchError naming the reason otherwise.
 */
export async function safeFetch (url: string, opts: SafeFetchOptions = {}): Promise<SafeFetchResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES

  if (!URL.canParse(url)) throw new SafeFetchError('invalid_url', 'not an absolute URL')
  const target = new URL(url)
  if (target.protocol !== 'https:') throw new SafeFetchError('not_https', 'only https URLs are fetched')
  if (target.username !== '' || target.password !== '') throw new SafeFetchError('invalid_url', 'URLs with user information are not fetched')

  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), timeoutMs)
  const deadline: Deadline = { signal: controller.signal, timedOut: () => new SafeFetchError('timeout', `no complete answer within ${timeoutMs} ms`) }
  let agent: Agent | undefined
  try {
    const addresses = await checkedAddresses(target.hostname.replace(/^\[(.*)\]$/, '$1'), opts, deadline)
    agent = pinnedAgent(addresses, timeoutMs, opts.ca)

    // 3. One GET, no redirects followed (undici's request does not follow them), bounded body.
    let response
    try {
      response = await request(target, {
        method: 'GET',
        dispatcher: agent,
        signal: controller.signal,
        headers: { accept: opts.accept ?? 'application/json' }
      })
    } catch (err) {
      if (controller.signal.aborted) throw deadline.timedOut()
      throw new SafeFetchError('network', `the request failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).name})`)
    }
    const { statusCode, headers, body } = response
    return { status: statusCode, headers, body: await readBounded(body, headers['content-length'], maxBytes, deadline) }
  } finally {
    clearTimeout(timer)
    if (agent !== undefined) agent.destroy().catch(() => {})
  }
}

/** The fetch's one time limit: its abort signal, and the error to throw once it fired. */
interface Deadline { signal: AbortSignal, timedOut: () => SafeFetchError }

/** 1. Resolve first and check every address: one private answer is enough to refuse. */
async function checkedAddresses (host: string, opts: SafeFetchOptions, deadline: Deadline): Promise<ResolvedAddress[]> {
  const resolve = opts.resolve ?? systemResolver
  const isAllowed = opts.isAllowedAddress ?? isPublicAddress
  let addresses: ResolvedAddress[]
  if (ipaddr.isValid(host)) {
    addresses = [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }]
  } else {
    const aborted = new Promise<never>((_resolve, reject) => {
      deadline.signal.addEventListener('abort', () => reject(deadline.timedOut()), { once: true })
    })
    try {
      addresses = await Promise.race([resolve(host), aborted])
    } catch (err) {
      if (err instanceof SafeFetchError) throw err
      throw new SafeFetchError('dns', `the host name does not resolve (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  if (addresses.length === 0) throw new SafeFetchError('dns', 'the host name has no address')
  const blocked = addresses.filter(a => !isAllowed(a.address))
  if (blocked.length > 0) {
    throw new SafeFetchError('blocked_address', `the host resolves to an address that is not public (${blocked.map(a => a.address).join(', ')})`)
  }
  return addresses
}

/** 2. Connect only to the checked addresses: the socket's lookup returns them instead of asking DNS again. */
function pinnedAgent (addresses: ResolvedAddress[], timeoutMs: number, ca: SafeFetchOptions['ca']): Agent {
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all === true) {
      (callback as (err: null, addresses: ResolvedAddress[]) => void)(null, addresses)
    } else {
      callback(null, addresses[0].address, addresses[0].family)
    }
  }
  return new Agent({
    connect: { lookup: pinned, timeout: timeoutMs, ...(ca !== undefined ? { ca } : {}) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connections: 1,
    pipelining: 0
  })
}

/** The body, refused as soon as it is (or declares to be) larger than `maxBytes`. */
async function readBounded (body: Dispatcher.ResponseData['body'], contentLength: string | string[] | undefined, maxBytes: number, deadline: Deadline): Promise<Buffer> {
  const declared = Number(contentLength)
  if (Number.isFinite(declared) && declared > maxBytes) {
    body.destroy()
    throw new SafeFetchError('too_large', `the response is larger than ${maxBytes} bytes`)
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length
      if (size > maxBytes) {
        body.destroy()
        throw new SafeFetchError('too_large', `the response is larger than ${maxBytes} bytes`)
      }
      chunks.push(chunk as Buffer)
    }
  } catch (err) {
    if (err instanceof SafeFetchError) throw err
    if (deadline.signal.aborted) throw deadline.timedOut()
    throw new SafeFetchError('network', `the response was cut short (${(err as NodeJS.ErrnoException).code ?? (err as Error).name})`)
  }
  return Buffer.concat(chunks)
}

/** application/json or a structured +json type (application/jwk-set+json). */
export function isJsonContentType (value: string | string[] | undefined): boolean {
  const type = (Array.isArray(value) ? value[0] : value ?? '').split(';')[0].trim().toLowerCase()
  return type === 'application/json' || /^application\/[\w.+-]+\+json$/.test(type)
}

export interface CacheBounds { min: number, max: number, fallback: number }

/**
 * How long to keep a fetched document, from its Cache-Control header, within [min, max].
 * `no-store`, `no-cache` and `max-age=0` give the floor (the document is fetched again soon, but
 * not on every request of one sign-in); no header or no max-age gives `fallback`.
 */
export function cacheSeconds (cacheControl: string | string[] | undefined, bounds: CacheBounds): number {
  const value = Array.isArray(cacheControl) ? cacheControl.join(',') : cacheControl
  if (value === undefined || value.trim() === '') return bounds.fallback
  const directives = value.toLowerCase().split(',').map(d => d.trim())
  if (directives.some(d => d === 'no-store' || d === 'no-cache')) return bounds.min
  const maxAge = directives.map(d => /^max-age\s*=\s*"?(\d+)"?$/.exec(d)).find(m => m !== null)
  if (maxAge === undefined || maxAge === null) return bounds.fallback
  return Math.min(bounds.max, Math.max(bounds.min, Number(maxAge[1])))
}
