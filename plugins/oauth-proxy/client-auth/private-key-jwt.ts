import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { InvalidClientError } from '../../errors/oauth.ts'
import type { ClientRecord } from '../clients/metadata.ts'
import { chooseKey, parseClientJwks, type ClientJwk, type ClientJwks } from './client-jwks.ts'
import {
  CLIENT_ASSERTION_TYPE, ClientAssertionError, assertedClientId, verifyClientAssertion, type AssertionHeader
} from './assertion-verify.ts'
import { SafeFetchError } from '../../shared/safe-fetch.ts'
import { jsonDocuments } from '../clients/json-documents.ts'
import type { ClientRegistryOptions } from '../clients/registry.ts'
import { clientJwksKey, clientJwksRefetchKey, clientJtiKey } from '../../store/keys.ts'

export interface ClientAssertionCredentials {
  client_id?: string
  client_assertion?: string
  client_assertion_type?: string
}

export interface PrivateKeyJwt {
  /**
   * RFC 7523 client authentication: the client the assertion names (and `client_id`, when sent,
   * must be that one), registered for private_key_jwt, with a valid, unused assertion signed by
   * one of its keys. Throws OAuthError 401 `invalid_client` otherwise (503 when the store is down).
   */
  authenticate (credentials: ClientAssertionCredentials): Promise<ClientRecord>
}

declare module 'fastify' {
  interface FastifyInstance {
    privateKeyJwt: PrivateKeyJwt
  }
}

/** Client key sets are cached between one minute and one hour; five minutes without a cache header. */
export const JWKS_CACHE = { min: 60, max: 3600, fallback: 300 }
/** An unknown kid refetches a key set at most this often (seconds), across instances. */
export const JWKS_REFETCH_INTERVAL = 30
export const JWKS_MAX_BYTES = 32 * 1024

const invalidClient = (description: string) => new InvalidClientError(`Client authentication failed: ${description}`)

/**
 * The key that verifies a client's assertion: from the client's own `jwks`, or from its
 * `jwks_uri` (fetched under the guard and cached; an unknown kid refetches, rate-limited).
 */
function clientKeyLookup (fastify: FastifyInstance, opts: ClientRegistryOptions): (client: ClientRecord, header: AssertionHeader) => Promise<ClientJwk> {
  const { store } = fastify
  const keySets = jsonDocuments<ClientJwks>({
    store,
    log: fastify.log,
    key: clientJwksKey,
    cache: JWKS_CACHE,
    fetch: { resolve: opts.resolve, isAllowedAddress: opts.isAllowedAddress, timeoutMs: opts.fetchTimeoutMs, maxBytes: JWKS_MAX_BYTES, ca: opts.ca, accept: 'application/jwk-set+json, application/json' },
    names: { what: 'the key set', type: 'JSON' },
    parse: parseClientJwks
  })

  /** Fetches (and caches) a key set; concurrent requests for one URI share one fetch. */
  async function fetchKeys (uri: string): Promise<ClientJwks> {
    try {
      return await keySets.fetch(uri)
    } catch (err) {
      if (!(err instanceof SafeFetchError)) throw err
      throw new ClientAssertionError('key', `the client's jwks_uri was refused: ${err.message}`)
    }
  }

  return async function keyFor (client, header) {
    if (client.jwks !== undefined) {
      const choice = chooseKey(client.jwks, header)
      if (choice.key !== null) return choice.key
      throw new ClientAssertionError('key', choice.reason)
    }
    const uri = client.jwks_uri
    if (uri === undefined) throw new ClientAssertionError('key', 'the client has no keys (jwks_uri or jwks)')
    let keys = await keySets.cached(uri)
    const cached = keys !== null
    keys ??= await fetchKeys(uri)
    let choice = chooseKey(keys, header)
    if (choice.key === null && choice.unknownKid && cached) {
      // Rotation: a new kid is looked for once per interval, however many assertions name it.
      if (await store.incr(clientJwksRefetchKey(uri), JWKS_REFETCH_INTERVAL) === 1) {
        keys = await fetchKeys(uri)
        choice = chooseKey(keys, header)
      }
    }
    if (choice.key !== null) return choice.key
    throw new ClientAssertionError('key', choice.reason)
  }
}

/**
 * private_key_jwt for client ID metadata documents (ChatGPT publishes a jwks_uri): key sets fetched
 * under the SSRF guard (plugins/shared/safe-fetch.ts) and cached in `client-jwks:{sha256(uri)}` per
 * Cache-Control within JWKS_CACHE, unknown kids refetched at most every JWKS_REFETCH_INTERVAL
 * seconds (`client-jwks-refetch:{sha256(uri)}`), and each assertion's jti accepted once
 * (`client-jti:{sha256(client_id, jti)}`, kept until the assertion expires).
 */
export default fp<ClientRegistryOptions>(async function privateKeyJwt (fastify, opts) {
  const { config, store } = fastify
  const audiences = [`${config.baseUrl}/token`, config.issuer]
  const tolerance = config.clockToleranceSeconds
  const keyFor = clientKeyLookup(fastify, opts)

  const api: PrivateKeyJwt = {
    async authenticate (credentials) {
      const { client_assertion: assertion, client_assertion_type: type } = credentials
      if (type !== CLIENT_ASSERTION_TYPE) {
        throw invalidClient(type === undefined ? 'client_assertion_type is required with client_assertion' : `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}`)
      }
      if (assertion === undefined || assertion === '') throw invalidClient('client_assertion is required with client_assertion_type')
      const clientId = assertedClientId(assertion)
      if (clientId === null) throw invalidClient('client_assertion is not a JWT whose sub names the client')
      if (credentials.client_id !== undefined && credentials.client_id !== clientId) {
        throw invalidClient('client_id is not the client the assertion names')
      }
      const client = await fastify.clients.get(clientId)
      if (client === null) throw invalidClient('unknown client')
      if (client.token_endpoint_auth_method !== 'private_key_jwt') {
        throw invalidClient(`this client authenticates with ${client.token_endpoint_auth_method}, not a client assertion`)
      }
      try {
        const { jti, exp } = await verifyClientAssertion(assertion, {
          clientId, audiences, clockToleranceSeconds: tolerance, keyFor: (header) => keyFor(client, header)
        })
        const ttl = Math.max(1, exp - Math.floor(Date.now() / 1000) + tolerance)
        if (await store.incr(clientJtiKey(clientId, jti), ttl) > 1) {
          throw new ClientAssertionError('replayed', 'this client_assertion (its jti) was already used')
        }
      } catch (err) {
        if (!(err instanceof ClientAssertionError)) throw err
        fastify.log.info({ client_id: clientId, reason: err.reason, detail: err.message }, 'client assertion refused')
        throw invalidClient(err.message)
      }
      return client
    }
  }
  fastify.decorate('privateKeyJwt', api)
}, { name: 'private-key-jwt', dependencies: ['config', 'store', 'client-registry'] })
