import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { getJson, setJson, type Store } from '../../store/contract.ts'
import { metadataDocumentUrlProblem, validateClientMetadata, type ClientMetadata, type ClientRecord, type MetadataRules } from './metadata.ts'
import { SafeFetchError, type AddressPolicy, type Resolver } from '../../shared/safe-fetch.ts'
import { jsonDocuments } from './json-documents.ts'
import { REGISTERED_CLIENTS_INDEX_KEY, clientKey, metadataDocumentKey } from '../../store/keys.ts'
import type { ClientDirectory } from '../grants/admin.ts'

export type { ClientRecord, ClientMetadata, TokenEndpointAuthMethod } from './metadata.ts'
export { redirectUriMatches } from '../../shared/redirect-uris.ts'

/** Test seams for client ID metadata documents; production uses the defaults. */
export interface ClientRegistryOptions {
  /** DNS resolution (default: the system resolver, every A and AAAA answer). */
  resolve?: Resolver
  /** Which resolved addresses may be connected to (default: public unicast only). */
  isAllowedAddress?: AddressPolicy
  /** Total time for one metadata document fetch (default 5000 ms). */
  fetchTimeoutMs?: number
  /** Largest metadata document accepted (default 5 KB). */
  maxDocumentBytes?: number
  /** Extra trusted CA certificates for metadata document servers. */
  ca?: string | Buffer | Array<string | Buffer>
}

export type ClientLookup = { client: ClientRecord, reason?: undefined } | { client: null, reason: string }

export interface ClientRegistry extends ClientDirectory {
  /** A registered client (`client:{id}`) or, for an https client_id, its validated metadata document; null if neither. */
  get (clientId: string): Promise<ClientRecord | null>
  /** Like get, with the reason when there is no client (for an error page or a log line; not secret). */
  lookup (clientId: string): Promise<ClientLookup>
  /**
   * Timing-safe secret check for confidential clients; public ('none') clients need no secret;
   * private_key_jwt clients never pass here (their assertion is checked by plugins/oauth-proxy/client-auth/private-key-jwt.ts).
   */
  authenticate (client: ClientRecord, credentials: { clientSecret?: string }): boolean
  /** Stores a newly registered client; the plain secret (confidential clients) is returned once, never stored. */
  register (metadata: ClientMetadata): Promise<{ client: ClientRecord, clientSecret?: string }>
}

declare module 'fastify' {
  interface FastifyInstance {
    clients: ClientRegistry
  }
}

/** Metadata documents are cached between one minute and one day; five minutes without a cache header. */
export const CIMD_CACHE = { min: 60, max: 86400, fallback: 300 }
const MAX_CLIENT_ID_LENGTH = 2000

/** A registration without expiry is indexed as ending this far after it was made (keeps newest-first order). */
const NO_EXPIRY = 100 * 365 * 86400

const sha256 = (value: string) => createHash('sha256').update(value).digest()

export function hashSecret (secret: string): string {
  return sha256(secret).toString('base64url')
}

/** Constant-time comparison of a presented secret with a stored hash. */
export function secretMatches (presented: string, storedHash: string): boolean {
  const expected = Buffer.from(storedHash, 'base64url')
  const actual = sha256(presented)
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

/**
 * Whether `secret` authenticates `client`: the unexpired secret of a confidential client; a public
 * ('none') client passes without one; a private_key_jwt client never passes here.
 */
export function clientSecretValid (client: ClientRecord, secret: string | undefined): boolean {
  if (client.token_endpoint_auth_method === 'none') return true
  if (client.token_endpoint_auth_method === 'private_key_jwt') return false
  if (typeof secret !== 'string' || secret.length === 0 || client.client_secret_hash === undefined) return false
  const expiresAt = client.client_secret_expires_at ?? 0
  if (expiresAt !== 0 && expiresAt <= Math.floor(Date.now() / 1000)) return false
  return secretMatches(secret, client.client_secret_hash)
}

/** The client a fetched metadata document describes, or the reason it is refused. */
function documentClient (document: unknown, url: string, rules: MetadataRules): ClientRecord | string {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) return 'the document is not a JSON object'
  if ((document as Record<string, unknown>).client_id !== url) return 'its client_id is not the URL it was fetched from'
  const checked = validateClientMetadata(document, { ...rules, metadataDocument: true })
  if (!checked.ok) return `${checked.error}: ${checked.description}`
  return { client_id: url, ...checked.metadata, client_id_issued_at: Math.floor(Date.now() / 1000), source: 'metadata_document' }
}

/** The lookup of an https client_id: its metadata document, from the cache or fetched under the guard. */
function metadataDocumentLookup (fastify: FastifyInstance, opts: ClientRegistryOptions): (url: string) => Promise<ClientLookup> {
  const { config, store } = fastify
  const rules = { scopes: config.scopes, allowedRedirectUris: config.allowedRedirectUris, redirectSchemes: config.redirectSchemes }
  const documents = jsonDocuments<ClientRecord>({
    store,
    log: fastify.log,
    key: metadataDocumentKey,
    cache: CIMD_CACHE,
    fetch: { resolve: opts.resolve, isAllowedAddress: opts.isAllowedAddress, timeoutMs: opts.fetchTimeoutMs, maxBytes: opts.maxDocumentBytes, ca: opts.ca },
    names: { what: 'the document', type: 'application/json', redirects: true },
    parse: (document, url) => documentClient(document, url, rules)
  })

  return async function lookupMetadataDocument (url) {
    if (!config.clientIdMetadataDocuments) return { client: null, reason: 'client ID metadata documents are disabled on this server' }
    const problem = metadataDocumentUrlProblem(url)
    if (problem !== null) return { client: null, reason: problem }
    const cached = await documents.cached(url)
    if (cached !== null) return { client: cached }
    try {
      return { client: await documents.fetch(url) }
    } catch (err) {
      if (!(err instanceof SafeFetchError)) throw err
      fastify.log.info({ client_id: url, reason: err.message }, 'client ID metadata document refused')
      return { client: null, reason: `client ID metadata document refused: ${err.message}` }
    }
  }
}

/** The admin's view of the clients (grants/admin.ts ClientDirectory): never fetches a document. */
function clientDirectory (store: Store): ClientDirectory {
  return {
    async known (clientId) {
      if (/^https:\/\//i.test(clientId)) return await getJson<ClientRecord>(store, metadataDocumentKey(clientId))
      return await getJson<ClientRecord>(store, clientKey(clientId))
    },

    async registered (limit) {
      const now = Math.floor(Date.now() / 1000)
      const ids = (await store.indexRange(REGISTERED_CLIENTS_INDEX_KEY, { expired: now, limit })).map(e => e.member)
      const records = await store.getMany(ids.map(clientKey))
      return records.flatMap(r => r === null ? [] : [JSON.parse(r) as ClientRecord])
    },

    async remove (clientId) {
      if (/^https:\/\//i.test(clientId)) {
        await store.delete(metadataDocumentKey(clientId))
        return false
      }
      const existed = await store.get(clientKey(clientId)) !== null
      await store.delete(clientKey(clientId))
      await store.indexRemove(REGISTERED_CLIENTS_INDEX_KEY, [clientId])
      return existed
    }
  }
}

/**
 * The clients this authorization server knows. Registered clients live in the store with no
 * expiry (or CLIENT_REGISTRATION_TTL); an https client_id is a client ID metadata document,
 * fetched under the SSRF guard (plugins/shared/safe-fetch.ts), validated like a registration, and
 * cached in `cimd:{sha256(url)}` for as long as its Cache-Control allows (within CIMD_CACHE bounds).
 */
export function createClientRegistry (fastify: FastifyInstance, opts: ClientRegistryOptions): ClientRegistry {
  const { config, store } = fastify
  const lookupMetadataDocument = metadataDocumentLookup(fastify, opts)

  const registry: ClientRegistry = {
    async lookup (clientId) {
      if (typeof clientId !== 'string' || clientId.length === 0) return { client: null, reason: 'client_id is missing' }
      if (clientId.length > MAX_CLIENT_ID_LENGTH) return { client: null, reason: 'client_id is too long' }
      if (/^https:\/\//i.test(clientId)) return await lookupMetadataDocument(clientId)
      if (/^http:\/\//i.test(clientId)) return { client: null, reason: 'a client ID metadata document URL must use https' }
      const client = await getJson<ClientRecord>(store, clientKey(clientId))
      return client === null ? { client: null, reason: 'no client is registered with this client_id' } : { client }
    },

    async get (clientId) {
      return (await registry.lookup(clientId)).client
    },

    authenticate (client, credentials) {
      return clientSecretValid(client, credentials.clientSecret)
    },

    ...clientDirectory(store),

    async register (metadata) {
      const issuedAt = Math.floor(Date.now() / 1000)
      const ttl = config.clientRegistrationTtl
      const client: ClientRecord = {
        client_id: randomUUID(),
        ...metadata,
        client_id_issued_at: issuedAt,
        source: 'registered'
      }
      let clientSecret: string | undefined
      if (metadata.token_endpoint_auth_method !== 'none') {
        clientSecret = randomBytes(32).toString('base64url')
        client.client_secret_hash = hashSecret(clientSecret)
        client.client_secret_expires_at = ttl > 0 ? issuedAt + ttl : 0
      }
      // Indexed first (for the admin listing), scored with when the registration ends.
      await store.indexAdd(REGISTERED_CLIENTS_INDEX_KEY, client.client_id, issuedAt + (ttl > 0 ? ttl : NO_EXPIRY), { expired: issuedAt, ttlSeconds: 0 })
      await setJson(store, clientKey(client.client_id), client, ttl > 0 ? ttl : undefined)
      return { client, clientSecret }
    }

  }
  return registry
}

/** `fastify.clients` (createClientRegistry). */
export default fp<ClientRegistryOptions>(async function clientRegistry (fastify, opts) {
  fastify.decorate('clients', createClientRegistry(fastify, opts))
}, { name: 'client-registry', dependencies: ['config', 'store', 'audit-log'] })
