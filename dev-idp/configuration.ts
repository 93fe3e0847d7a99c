import { createHash, createPublicKey, randomBytes, X509Certificate, type KeyObject } from 'node:crypto'
import { errors, type Configuration, type KoaContextWithOIDC, type Account, type ClientMetadata, type JWK } from 'oidc-provider'
import type { DevUser } from './users.ts'
import { memoryAdapter } from './memory-adapter.ts'
import { errorPage, loggedOutPage, logoutPage } from './views.ts'
import { CLAIMS_MARKER } from './conditional-access.ts'
import { GRAPH_RESOURCE, OFFLINE_MARKER, OIDC_SCOPES, addOidcScopes, normalizeScopes, resourceOfScope, shortScopes } from './scopes.ts'
import type { EntraPaths } from './http.ts'

// The oidc-provider configuration that makes it behave like Entra v2 for one tenant: claims (`tid`, `oid`,
// `scp`, `azp`, `ver: "2.0"`), scopes per resource, no consent screen, TTLs, and the registered clients
// (secret, or certificate with an `x5t` header).

export interface EntraLikeClient {
  clientId: string
  /** Secret for client_secret_basic / client_secret_post. */
  clientSecret?: string
  /**
   * PEM X.509 certificate (the public part is enough): the client then authenticates with private_key_jwt,
   * an assertion signed by the certificate's key with an `x5t` or `x5t#S256` header, aud = token endpoint.
   */
  certificatePem?: string
  redirectUris: string[]
  postLogoutRedirectUris?: string[]
  /** The application ID URI of the API this app exposes; default `api://{clientId}`. */
  identifierUri?: string
}

export interface EntraLikeTtl { accessToken?: number, idToken?: number, refreshToken?: number, authorizationCode?: number, session?: number }

/** The clients as oidc-provider reads them, and what the Entra shaping needs to know about them. */
export interface Registrations {
  clients: ClientMetadata[]
  /** API applications: their application ID URI -> client id (the `aud` of their v2 access tokens). */
  apis: Map<string, string>
  /** Certificate thumbprints of the clients that authenticate with private_key_jwt. */
  certificates: Map<string, { x5t: string, x5tS256: string }>
}

export interface ConfigurationInput {
  tenant: string
  mountPath: string
  paths: EntraPaths
  users: readonly DevUser[]
  ttl: EntraLikeTtl
  registrations: Registrations
  /** The private signing key as a JWK, with kid, use and alg. */
  signingJwk: JWK
}

/** RFC 7638 thumbprint: a kid that changes only when the key does (JWKS caches keep working across restarts). */
export function jwkThumbprint (jwk: { kty?: string, e?: string, n?: string }): string {
  return createHash('sha256').update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n })).digest('base64url')
}

/** base64url SHA-1 and SHA-256 thumbprints of a PEM certificate's DER bytes (`x5t`, `x5t#S256`). */
export function certificateThumbprints (pem: string): { x5t: string, x5tS256: string, der: Buffer, publicKey: KeyObject } {
  const cert = new X509Certificate(pem)
  return {
    x5t: createHash('sha1').update(cert.raw).digest('base64url'),
    x5tS256: createHash('sha256').update(cert.raw).digest('base64url'),
    der: cert.raw,
    publicKey: cert.publicKey
  }
}

/** The private JWK oidc-provider signs with, and the public one served at the JWKS endpoint. */
export function signingJwks (signingKey: KeyObject): { signingJwk: JWK, publicJwk: JWK } {
  const privateJwk = signingKey.export({ format: 'jwk' }) as JWK
  const kid = jwkThumbprint(privateJwk)
  return {
    signingJwk: { ...privateJwk, kid, use: 'sig', alg: 'RS256' },
    publicJwk: { ...(createPublicKey(signingKey).export({ format: 'jwk' }) as JWK), kid, use: 'sig', alg: 'RS256' }
  }
}

export function registerClients (clients: readonly EntraLikeClient[]): Registrations {
  const apis = new Map<string, string>()
  const certificates = new Map<string, { x5t: string, x5tS256: string }>()
  const metadata = clients.map(c => {
    apis.set((c.identifierUri ?? `api://${c.clientId}`).replace(/\/+$/, ''), c.clientId)
    const hosts = new Set(c.redirectUris.map(u => new URL(u).host))
    const client: ClientMetadata = {
      client_id: c.clientId,
      redirect_uris: c.redirectUris,
      post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
      response_types: ['code'],
      grant_types: ['authorization_code', 'refresh_token'],
      // Entra's `sub` is pairwise (per user and application); `oid` is the stable user id.
      subject_type: hosts.size === 1 ? 'pairwise' : 'public',
      token_endpoint_auth_method: 'none'
    }
    if (c.certificatePem !== undefined) {
      const thumbs = certificateThumbprints(c.certificatePem)
      certificates.set(c.clientId, thumbs)
      const jwk = thumbs.publicKey.export({ format: 'jwk' }) as JWK
      client.token_endpoint_auth_method = 'private_key_jwt'
      client.jwks = { keys: [{ ...jwk, kid: thumbs.x5t, x5t: thumbs.x5t, 'x5t#S256': thumbs.x5tS256, x5c: [thumbs.der.toString('base64')] } as JWK] }
    } else if (c.clientSecret !== undefined) {
      client.client_secret = c.clientSecret
      client.token_endpoint_auth_method = 'client_secret_basic'
    }
    return client
  })
  return { clients: metadata, apis, certificates }
}

function pairwiseSubject (oid: string, clientId: string, tenantId: string): string {
  return createHash('sha256').update(`${tenantId}|${clientId}|${oid}`).digest('base64url').slice(0, 43)
}

function account (user: DevUser, tenant: string): Account {
  return {
    accountId: user.oid,
    claims: () => ({
      sub: user.oid,
      oid: user.oid,
      tid: tenant,
      ver: '2.0',
      name: user.name,
      preferred_username: user.preferredUsername,
      email: user.email,
      // Like Entra: `roles` only for a user with an app role assigned (absent otherwise).
      ...(user.roles !== undefined && user.roles.length > 0 ? { roles: [...user.roles] } : {})
    })
  }
}

/** No consent screen: like an Entra app with admin consent, every requested scope is granted. */
const loadExistingGrant: Configuration['loadExistingGrant'] = async (ctx) => {
  const accountId = ctx.oidc.session?.accountId
  if (accountId === undefined || ctx.oidc.client === undefined) return undefined
  const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId })
  const requested = [...ctx.oidc.requestParamScopes]
  addOidcScopes(grant, requested, ctx.oidc.params)
  for (const [identifier, server] of Object.entries(ctx.oidc.resourceServers ?? {})) {
    const scopes = requested.filter(s => server.scopes.has(s))
    if (scopes.length > 0) grant.addResourceScope(identifier, scopes.join(' '))
  }
  await grant.save()
  return grant
}

/** Entra returns a refresh token whenever offline_access was asked, with or without prompt=consent. */
const issueRefreshToken: Configuration['issueRefreshToken'] = (ctx, client, code) => {
  if (!client.grantTypeAllowed('refresh_token')) return false
  if (code.scopes.has('offline_access')) return true
  const grant = ctx.oidc.entities.Grant
  return grant !== undefined && grant.getOIDCScope().split(' ').includes('offline_access')
}

/** A certificate client's assertion: signed by the registered certificate (x5t), for our token endpoint, about itself. */
function certificateAssertionCheck (certificates: Registrations['certificates']): Configuration['assertJwtClientAuthClaimsAndHeader'] {
  return (ctx, claims, header, client) => {
    const registered = certificates.get(client.clientId)
    const x5t = header.x5t
    const x5tS256 = header['x5t#S256']
    if (registered === undefined || (x5t !== registered.x5t && x5tS256 !== registered.x5tS256)) {
      throw new errors.InvalidClientAuth(`AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${String(x5t ?? x5tS256 ?? 'none')}']`)
    }
    if (claims.aud !== ctx.oidc.urlFor('token')) {
      throw new errors.InvalidClientAuth(`AADSTS700016: The client assertion audience must be the token endpoint ${ctx.oidc.urlFor('token')}`)
    }
    if (claims.sub !== client.clientId) {
      throw new errors.InvalidClientAuth('AADSTS700023: The client assertion subject must be the client id')
    }
  }
}

/** Every scope in play for this request: asked now, or carried by the code or refresh token. */
function scopesInPlay (ctx: KoaContextWithOIDC): string[] {
  const sources = [ctx.oidc.params?.scope, ctx.oidc.entities?.AuthorizationCode?.scope, ctx.oidc.entities?.RefreshToken?.scope]
  return [...new Set(sources.flatMap(s => typeof s === 'string' ? s.split(' ') : []))]
}

/** One resource per token, chosen from the scopes as Entra does; an unknown API is AADSTS500011. */
type Features = NonNullable<Configuration['features']>
type JwtCustomizer = NonNullable<NonNullable<Configuration['formats']>['customizers']>['jwt']

function resourceIndicators ({ tenant, ttl, registrations: { apis } }: ConfigurationInput): Features['resourceIndicators'] {
  return {
    enabled: true,
    useGrantedResource: () => true,
    defaultResource: (ctx, _client, oneOf) => {
      if (oneOf !== undefined) {
        // At the token endpoint: the resource of the first scope asked, else the API rather than Graph.
        for (const scope of normalizeScopes(ctx.oidc.params?.scope as string | undefined)) {
          const resource = resourceOfScope(scope)
          if (resource !== undefined && oneOf.includes(resource)) return resource
        }
        return oneOf.find(r => r !== GRAPH_RESOURCE) ?? oneOf[0]
      }
      const resources = [...new Set(normalizeScopes(ctx.oidc.params?.scope as string | undefined).map(resourceOfScope).filter(r => r !== undefined))]
      return resources.length > 0 ? resources : undefined as unknown as string
    },
    getResourceServerInfo: (ctx, resource) => {
      const scope = scopesInPlay(ctx).filter(s => s.startsWith(`${resource}/`)).join(' ')
      const common = { scope, accessTokenFormat: 'jwt' as const, accessTokenTTL: ttl.accessToken ?? 3600, jwt: { sign: { alg: 'RS256' as const } } }
      if (resource === GRAPH_RESOURCE) return { ...common, audience: GRAPH_RESOURCE }
      const clientId = apis.get(resource)
      if (clientId === undefined) {
        throw new errors.InvalidTarget(`AADSTS500011: The resource principal named ${resource} was not found in the tenant named ${tenant}.`)
      }
      return { ...common, audience: clientId }
    }
  }
}

/** Entra v2 access tokens: typ JWT, `scp` with short names, `azp`, `tid`, `oid`, `ver`, `uti`, no client_id/scope/jti. */
function entraAccessToken ({ tenant, users, registrations: { apis, certificates, clients } }: ConfigurationInput): JwtCustomizer {
  return (_ctx, token, jwt) => {
    const payload = jwt.payload as Record<string, unknown>
    const audience = String(payload.aud)
    const resource = audience === GRAPH_RESOURCE ? GRAPH_RESOURCE : [...apis].find(([, id]) => id === audience)?.[0] ?? audience
    const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ') : []
    const user = 'accountId' in token ? users.find(u => u.oid === token.accountId) : undefined
    const clientId = String(payload.client_id)
    jwt.header = { ...(jwt.header ?? {}), typ: 'JWT' }
    Object.assign(payload, {
      nbf: payload.iat,
      azp: clientId,
      azpacr: certificates.has(clientId) ? '2' : (clients.find(c => c.client_id === clientId)?.client_secret !== undefined ? '1' : '0'),
      scp: shortScopes(scopes, resource),
      tid: tenant,
      ver: '2.0',
      uti: payload.jti
    })
    if (user !== undefined) Object.assign(payload, { oid: user.oid, name: user.name, preferred_username: user.preferredUsername })
    delete payload.scope
    delete payload.client_id
    delete payload.jti
  }
}

function features (input: ConfigurationInput): Features {
  return {
    devInteractions: { enabled: false },
    // Not offered by this stand-in (Entra has no DPoP; the proxy never uses PAR).
    dPoP: { enabled: false },
    pushedAuthorizationRequests: { enabled: false },
    userinfo: { enabled: true },
    revocation: { enabled: false },
    introspection: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: (ctx, form) => { ctx.type = 'html'; ctx.body = logoutPage(form, ctx.host) },
      postLogoutSuccessSource: (ctx) => { ctx.type = 'html'; ctx.body = loggedOutPage() }
    },
    resourceIndicators: resourceIndicators(input)
  }
}

export function entraLikeConfiguration (input: ConfigurationInput): Configuration {
  const { tenant, mountPath, paths, users, ttl } = input
  return {
    adapter: memoryAdapter(),
    clients: input.registrations.clients,
    jwks: { keys: [input.signingJwk] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: { session: 'devidp_session', interaction: 'devidp_interaction', resume: 'devidp_resume' }
    },
    routes: { authorization: paths.authorize, token: paths.token, jwks: paths.jwks, end_session: paths.logout, userinfo: paths.userinfo },
    scopes: [...OIDC_SCOPES],
    claims: {
      openid: ['sub', 'oid', 'tid', 'ver', 'roles'],
      profile: ['name', 'preferred_username', 'email'],
      email: ['email']
    },
    // Entra puts the profile claims in the id token itself.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    subjectTypes: ['public', 'pairwise'],
    pairwiseIdentifier: (_ctx, accountId, client) => pairwiseSubject(accountId, client.clientId, tenant),
    extraParams: [OFFLINE_MARKER, CLAIMS_MARKER],
    clockTolerance: 60,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: ttl.accessToken ?? 3600,
      IdToken: ttl.idToken ?? 3600,
      AuthorizationCode: ttl.authorizationCode ?? 600,
      RefreshToken: ttl.refreshToken ?? 90 * 24 * 3600,
      Interaction: 3600,
      Session: ttl.session ?? 24 * 3600,
      Grant: ttl.refreshToken ?? 90 * 24 * 3600
    },
    findAccount: (_ctx, id) => {
      const user = users.find(u => u.oid === id)
      return user === undefined ? undefined : account(user, tenant)
    },
    interactions: { url: (_ctx, interaction) => `${mountPath}${paths.signIn}${interaction.uid}` },
    loadExistingGrant,
    issueRefreshToken,
    assertJwtClientAuthClaimsAndHeader: certificateAssertionCheck(input.registrations.certificates),
    features: features(input),
    formats: { customizers: { jwt: entraAccessToken(input) } },
    renderError: (ctx, out) => {
      ctx.type = 'html'
      ctx.body = errorPage(String(out.error), String(out.error_description ?? ''))
    }
  }
}
