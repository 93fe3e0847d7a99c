import fp from 'fastify-plugin'
import { randomBytes } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { generateEphemeralSigningKey, type SigningKey } from '../../config/keys.ts'
import type { GrantUser } from '../oauth-proxy/grants/records.ts'

/** What the authorization server puts in the access tokens it issues (RFC 9068 shape). */
export interface AccessTokenClaims extends GrantUser {
  client_id: string
  /** Space-separated. */
  scope: string
  /** The grant the token belongs to (revoking the grant revokes the token). */
  sid: string
  /** RFC 8707 audience when not the MCP resource: the admin API (its tokens alone carry `roles`). */
  audience?: string
}

export interface IssuedAccessToken {
  accessToken: string
  jti: string
  /** Seconds. */
  expiresIn: number
}

export interface PublicJwk { kty: 'RSA', n: string, e: string, kid: string, alg: 'RS256', use: 'sig' }

export interface TokenSigner {
  issueAccessToken: (claims: AccessTokenClaims) => IssuedAccessToken
  /** Public keys of every configured key: the one that signs and those still verifying after a rotation. */
  jwks: () => { keys: PublicJwk[] }
  /** The same keys as PEM, for the verifier (no private material). */
  readonly verificationKeys: ReadonlyArray<{ kid: string, publicPem: string }>
  /** 'configured' from TOKEN_SIGNING_KEY, or 'ephemeral' (dies with the process). */
  readonly source: 'configured' | 'ephemeral'
}

declare module 'fastify' {
  interface FastifyInstance {
    tokenSigner: TokenSigner
  }
}

// One ephemeral key per process: it dies with the process either way, and several app
// instances in one process (tests) need not each pay for an RSA key generation.
let ephemeralKey: SigningKey | undefined

/** Builds the signer from keys: the first signs, all verify. `now` is injectable for tests. */
export function createTokenSigner (keys: SigningKey[], opts: { issuer: string, audience: string, ttlSeconds: number, source: 'configured' | 'ephemeral', now?: () => number }): TokenSigner {
  const [active] = keys
  const now = opts.now ?? Date.now
  const sign = createSigner({
    key: active.privatePem,
    algorithm: 'RS256',
    kid: active.kid,
    // iat comes from the payload (fast-jwt keeps a given iat; noTimestamp would drop it).
    header: { alg: 'RS256', typ: 'at+jwt' }
  })
  return {
    source: opts.source,
    verificationKeys: keys.map(k => ({ kid: k.kid, publicPem: k.publicPem })),
    jwks: () => ({ keys: keys.map(k => ({ ...k.publicJwk })) }),
    issueAccessToken (claims) {
      const iat = Math.floor(now() / 1000)
      const jti = randomBytes(16).toString('base64url')
      const payload: Record<string, unknown> = {
        iss: opts.issuer,
        aud: claims.audience ?? opts.audience,
        sub: claims.sub,
        client_id: claims.client_id,
        scope: claims.scope,
        sid: claims.sid,
        iat,
        nbf: iat,
        exp: iat + opts.ttlSeconds,
        jti
      }
      for (const name of ['oid', 'tid', 'name', 'preferred_username', 'email'] as const) {
        if (claims[name] !== undefined) payload[name] = claims[name]
      }
      if (claims.roles !== undefined) payload.roles = claims.roles
      return { accessToken: sign(payload), jti, expiresIn: opts.ttlSeconds }
    }
  }
}

/**
 * `fastify.tokenSigner`: signs this service's access tokens (RS256, header kid and
 * `typ: at+jwt`) with TOKEN_SIGNING_KEY, or with an ephemeral key and a loud warning.
 */
export default fp(async function signingKeys (fastify) {
  const { config } = fastify
  let keys = config.signingKeys
  const source = keys === null ? 'ephemeral' : 'configured'
  if (keys === null) {
    ephemeralKey ??= generateEphemeralSigningKey()
    keys = [ephemeralKey]
    fastify.log.warn('TOKEN_SIGNING_KEY is not set: signing tokens with an EPHEMERAL key. Every token this service issued dies when the process stops, and other instances reject them. Set TOKEN_SIGNING_KEY for any deployment.')
  } else {
    fastify.log.info({ kids: keys.map(k => k.kid) }, `token signing keys loaded (${keys.length}); kid ${keys[0].kid} signs`)
  }
  fastify.decorate('tokenSigner', createTokenSigner(keys, {
    issuer: config.issuer,
    audience: config.resource,
    ttlSeconds: config.accessTokenTtl,
    source
  }))
  const detail = source === 'ephemeral' ? 'ephemeral' : `configured (${keys.length} key${keys.length === 1 ? '' : 's'})`
  fastify.readinessChecks.set('signing_key', async () => ({ ok: true, detail }))
}, { name: 'signing-keys', dependencies: ['config', 'readiness'] })
