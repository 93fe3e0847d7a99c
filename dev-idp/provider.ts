import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import Provider, { type JWK } from 'oidc-provider'
import { DEFAULT_USERS, type DevUser } from './users.ts'
import { ClaimsDemands } from './conditional-access.ts'
import { entraLikeConfiguration, registerClients, signingJwks, type EntraLikeClient, type EntraLikeTtl } from './configuration.ts'
import { createInteractions } from './interactions.ts'
import { createHandler, entraPaths } from './http.ts'

// An OpenID provider built on `oidc-provider`, shaped like Microsoft Entra ID (v2.0 endpoints) for one tenant:
// the same paths, issuer, token claims (`tid`, `oid`, `scp`, `azp`, `ver: "2.0"`), scopes asked the Entra way
// (`api://{client-id}/tools.read`, Graph scopes), refresh tokens whenever `offline_access` is asked and
// client authentication by secret or by certificate (private_key_jwt with an `x5t` header).
// Used mounted inside the service (dev-idp/plugin.ts) and standalone in tests (test/support/entra-like-server.ts).
// This file composes configuration.ts (oidc-provider's configuration), interactions.ts (the sign-in page)
// and http.ts (the Entra-shaped paths in front of oidc-provider).

export type { EntraLikeClient, EntraLikeTtl } from './configuration.ts'
export { jwkThumbprint, certificateThumbprints } from './configuration.ts'
export { GRAPH_RESOURCE, resourceOfScope, normalizeScopes, shortScopes } from './scopes.ts'

export interface EntraLikeOptions {
  /** Origin the provider is reached at, e.g. `http://127.0.0.1:8000`. */
  origin: string
  /** Path it is mounted under (`/dev-idp` inside the service, empty when standalone). */
  mountPath?: string
  tenantId: string
  clients: EntraLikeClient[]
  users?: readonly DevUser[]
  /** RSA private key that signs tokens; an ephemeral one by default. */
  signingKey?: KeyObject
  /** Trust X-Forwarded-Proto / -Host (behind a TLS proxy). */
  proxy?: boolean
  ttl?: EntraLikeTtl
}

export interface EntraLikeProvider {
  provider: Provider
  tenantId: string
  /** `{origin}{mountPath}`: what AZURE_AUTHORITY_HOST points at. */
  authorityHost: string
  /** `{authorityHost}/{tenant}/v2.0` */
  issuer: string
  endpoints: { authorize: string, token: string, jwks: string, metadata: string, logout: string, userinfo: string }
  users: readonly DevUser[]
  /** Public signing keys, as served at the JWKS endpoint. */
  jwks: { keys: JWK[] }
  /** Conditional Access stand-in: `demands.demand(oid)` makes a user need MFA (tests). */
  demands: ClaimsDemands
  /** Node request handler; `req.url` is the full path including the mount path. */
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>
}

export function createEntraLikeProvider (options: EntraLikeOptions): EntraLikeProvider {
  const mountPath = (options.mountPath ?? '').replace(/\/+$/, '')
  const tenant = options.tenantId
  const users = options.users ?? DEFAULT_USERS
  const authorityHost = `${new URL(options.origin).origin}${mountPath}`
  const issuer = `${authorityHost}/${tenant}/v2.0`
  const paths = entraPaths(tenant)
  const { signingJwk, publicJwk } = signingJwks(options.signingKey ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey)

  const configuration = entraLikeConfiguration({
    tenant, mountPath, paths, users, ttl: options.ttl ?? {}, registrations: registerClients(options.clients), signingJwk
  })
  const provider = new Provider(issuer, configuration)
  provider.proxy = options.proxy === true
  const demands = new ClaimsDemands()
  for (const user of users) if (user.needsMfa === true) demands.demand(user.oid)
  const interaction = createInteractions({ provider, tenant, users, demands, signInPath: `${mountPath}${paths.signIn}` })

  return {
    provider,
    tenantId: tenant,
    authorityHost,
    issuer,
    endpoints: {
      authorize: `${authorityHost}${paths.authorize}`,
      token: `${authorityHost}${paths.token}`,
      jwks: `${authorityHost}${paths.jwks}`,
      metadata: `${authorityHost}${paths.metadata}`,
      logout: `${authorityHost}${paths.logout}`,
      userinfo: `${authorityHost}${paths.userinfo}`
    },
    users,
    jwks: { keys: [publicJwk] },
    demands,
    handle: createHandler({ provider, tenant, mountPath, paths, interaction, demands })
  }
}
