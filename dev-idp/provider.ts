import { createHash, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import Provider, { errors, type Configuration, type KoaContextWithOIDC, type Account, type ClientMetadata, type Grant, type JWK } from 'oidc-provider'
import { DEFAULT_USERS, findUser, type DevUser } from './users.ts'
import { memoryAdapter } from './memory-adapter.ts'
import { DEV_IDP_CSP, errorPage, loggedOutPage, logoutPage, signInPage } from './views.ts'

// An OpenID provider built on `oidc-provider`, shaped like Microsoft Entra ID (v2.0 endpoints) for one tenant:
// the same paths, issuer, token claims (`tid`, `oid`, `scp`, `azp`, `ver: "2.0"`), scopes asked the Entra way
// (`api://{client-id}/tools.read`, Graph scopes), refresh tokens whenever `offline_access` is asked and
// client authentication by secret or by certificate (private_key_jwt with an `x5t` header).
// Used mounted inside the service (dev-idp/plugin.ts) and standalone in tests (test/fixtures/entra-like-server.ts).

export const GRAPH_RESOURCE = 'https://graph.microsoft.com'
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access'])
// oidc-provider drops `offline_access` unless prompt=consent; Entra does not. The front handler records the
// request for it in this extra parameter, and the grant carries it to `issueRefreshToken`.
const OFFLINE_MARKER = 'x_entra_offline_access'
const BODY_LIMIT = 56 * 1024

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
  ttl?: { accessToken?: number, idToken?: number, refreshToken?: number, authorizationCode?: number, session?: number }
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
  /** Node request handler; `req.url` is the full path including the mount path. */
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>
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

/** The resource (application ID URI or URL) a fully qualified scope belongs to, or undefined for OpenID scopes. */
export function resourceOfScope (scope: string): string | undefined {
  if (OIDC_SCOPES.has(scope)) return undefined
  const slash = scope.lastIndexOf('/')
  if (slash <= 0 || !scope.includes(':')) return undefined
  return scope.slice(0, slash)
}

/**
 * Scopes as Entra reads them: bare names other than the OpenID ones (`User.Read`) are Microsoft Graph
 * scopes; duplicates go.
 */
export function normalizeScopes (scope: string | undefined): string[] {
  const out: string[] = []
  for (const s of (scope ?? '').split(' ').filter(Boolean)) {
    const full = OIDC_SCOPES.has(s) || s.includes('/') ? s : `${GRAPH_RESOURCE}/${s}`
    if (!out.includes(full)) out.push(full)
  }
  return out
}

/** `scp` for a token: the requested scopes of one resource, without the resource prefix. */
export function shortScopes (scopes: string[], resource: string): string {
  return scopes.filter(s => s.startsWith(`${resource}/`)).map(s => s.slice(resource.length + 1)).join(' ')
}

function pairwiseSubject (oid: string, clientId: string, tenantId: string): string {
  return createHash('sha256').update(`${tenantId}|${clientId}|${oid}`).digest('base64url').slice(0, 43)
}

function sendHtml (res: ServerResponse, status: number, html: string): void {
  res.statusCode = status
  res.setHeader('content-type', 'text/html; charset=utf-8')
  res.setHeader('cache-control', 'no-store')
  res.end(html)
}

function sendJson (res: ServerResponse, status: number, body: object): void {
  res.statusCode = status
  res.setHeader('content-type', 'application/json; charset=utf-8')
  res.setHeader('cache-control', 'no-store')
  res.end(JSON.stringify(body))
}

async function readBody (req: IncomingMessage, limit = BODY_LIMIT): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new Error('request body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * A view of `req` whose body is `body` (the original stream was read to rewrite it). oidc-provider reads
 * the body with `req.iterator()` while `req.readable` is true; everything else goes to the real request.
 */
function withBody (req: IncomingMessage, body: string): IncomingMessage {
  const buffer = Buffer.from(body)
  req.headers['content-length'] = String(buffer.length)
  delete req.headers['transfer-encoding']
  return new Proxy(req, {
    get (target, prop) {
      if (prop === 'readable') return true
      if (prop === 'readableEncoding') return null
      if (prop === 'iterator') return () => (async function * () { yield buffer })()
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

export function createEntraLikeProvider (options: EntraLikeOptions): EntraLikeProvider {
  const mountPath = (options.mountPath ?? '').replace(/\/+$/, '')
  const origin = new URL(options.origin).origin
  const tenant = options.tenantId
  const users = options.users ?? DEFAULT_USERS
  const authorityHost = `${origin}${mountPath}`
  const issuer = `${authorityHost}/${tenant}/v2.0`
  const ttl = options.ttl ?? {}

  const signingKey = options.signingKey ?? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const privateJwk = signingKey.export({ format: 'jwk' }) as JWK
  const kid = jwkThumbprint(privateJwk)
  const publicJwk = { ...(createPublicKey(signingKey).export({ format: 'jwk' }) as JWK), kid, use: 'sig', alg: 'RS256' }

  // API applications: their application ID URI -> client id (the `aud` of their v2 access tokens).
  const apis = new Map<string, string>()
  const certificates = new Map<string, { x5t: string, x5tS256: string }>()
  const clients: ClientMetadata[] = options.clients.map(c => {
    apis.set((c.identifierUri ?? `api://${c.clientId}`).replace(/\/+$/, ''), c.clientId)
    const hosts = new Set(c.redirectUris.map(u => new URL(u).host))
    const metadata: ClientMetadata = {
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
      metadata.token_endpoint_auth_method = 'private_key_jwt'
      metadata.jwks = { keys: [{ ...jwk, kid: thumbs.x5t, x5t: thumbs.x5t, 'x5t#S256': thumbs.x5tS256, x5c: [thumbs.der.toString('base64')] } as JWK] }
    } else if (c.clientSecret !== undefined) {
      metadata.client_secret = c.clientSecret
      metadata.token_endpoint_auth_method = 'client_secret_basic'
    }
    return metadata
  })

  const paths = {
    authorize: `/${tenant}/oauth2/v2.0/authorize`,
    token: `/${tenant}/oauth2/v2.0/token`,
    jwks: `/${tenant}/discovery/v2.0/keys`,
    logout: `/${tenant}/oauth2/v2.0/logout`,
    userinfo: `/${tenant}/oidc/userinfo`,
    metadata: `/${tenant}/v2.0/.well-known/openid-configuration`,
    signIn: `/${tenant}/signin/`
  }

  const account = (user: DevUser): Account => ({
    accountId: user.oid,
    claims: () => ({
      sub: user.oid,
      oid: user.oid,
      tid: tenant,
      ver: '2.0',
      name: user.name,
      preferred_username: user.preferredUsername,
      email: user.email
    })
  })

  /** Grants the OpenID scopes among `requested`, with offline_access when the front handler marked the request for it. */
  const addOidcScopes = (grant: Grant, requested: string[], params: Record<string, unknown> | undefined): void => {
    const oidc = requested.filter(s => OIDC_SCOPES.has(s))
    if (params?.[OFFLINE_MARKER] === '1' && !oidc.includes('offline_access')) oidc.push('offline_access')
    if (oidc.length > 0) grant.addOIDCScope(oidc.join(' '))
  }

  /** Every scope in play for this request: asked now, or carried by the code or refresh token. */
  const scopesInPlay = (ctx: KoaContextWithOIDC): string[] => {
    const sources = [ctx.oidc.params?.scope, ctx.oidc.entities?.AuthorizationCode?.scope, ctx.oidc.entities?.RefreshToken?.scope]
    return [...new Set(sources.flatMap(s => typeof s === 'string' ? s.split(' ') : []))]
  }

  const configuration: Configuration = {
    adapter: memoryAdapter(),
    clients,
    jwks: { keys: [{ ...privateJwk, kid, use: 'sig', alg: 'RS256' }] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      names: { session: 'devidp_session', interaction: 'devidp_interaction', resume: 'devidp_resume' }
    },
    routes: {
      authorization: paths.authorize,
      token: paths.token,
      jwks: paths.jwks,
      end_session: paths.logout,
      userinfo: paths.userinfo
    },
    scopes: [...OIDC_SCOPES],
    claims: {
      openid: ['sub', 'oid', 'tid', 'ver'],
      profile: ['name', 'preferred_username', 'email'],
      email: ['email']
    },
    // Entra puts the profile claims in the id token itself.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    subjectTypes: ['public', 'pairwise'],
    pairwiseIdentifier: (_ctx, accountId, client) => pairwiseSubject(accountId, client.clientId, tenant),
    extraParams: [OFFLINE_MARKER],
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
      return user === undefined ? undefined : account(user)
    },
    interactions: {
      url: (_ctx, interaction) => `${mountPath}${paths.signIn}${interaction.uid}`
    },
    // No consent screen: like an Entra app with admin consent, every requested scope is granted.
    loadExistingGrant: async (ctx) => {
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
    },
    // Entra returns a refresh token whenever offline_access was asked, with or without prompt=consent.
    issueRefreshToken: (ctx, client, code) => {
      if (!client.grantTypeAllowed('refresh_token')) return false
      if (code.scopes.has('offline_access')) return true
      const grant = ctx.oidc.entities.Grant
      return grant !== undefined && grant.getOIDCScope().split(' ').includes('offline_access')
    },
    assertJwtClientAuthClaimsAndHeader: (ctx, claims, header, client) => {
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
    },
    features: {
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
      resourceIndicators: {
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
    },
    formats: {
      customizers: {
        // Entra v2 access tokens: typ JWT, `scp` with short names, `azp`, `tid`, `oid`, `ver`, `uti`, no client_id/scope/jti.
        jwt: (_ctx, token, jwt) => {
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
    },
    renderError: (ctx, out) => {
      ctx.type = 'html'
      ctx.body = errorPage(String(out.error), String(out.error_description ?? ''))
    }
  }

  const provider = new Provider(issuer, configuration)
  provider.proxy = options.proxy === true
  const callback = provider.callback()

  async function interaction (req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    let details
    try {
      details = await provider.interactionDetails(req, res)
    } catch {
      return sendHtml(res, 400, errorPage('invalid_request', 'AADSTS90015: This sign-in session has expired or was not found. Start the sign-in again from the application.'))
    }
    if (details.uid !== uid) return sendHtml(res, 400, errorPage('invalid_request', 'AADSTS90015: This sign-in session does not match the page.'))
    const params = details.params as Record<string, string | undefined>
    const clientId = params.client_id ?? ''

    if (req.method === 'GET' || req.method === 'HEAD') {
      if (details.prompt.name === 'login') {
        return sendHtml(res, 200, signInPage({
          action: `${mountPath}${paths.signIn}${uid}`,
          users,
          clientId,
          tenantId: tenant,
          scopes: normalizeScopes(params.scope),
          loginHint: params.login_hint
        }))
      }
      // Any other prompt (consent, asked with prompt=consent): granted at once, as with admin consent.
      const accountId = details.session?.accountId
      if (accountId === undefined) return sendHtml(res, 400, errorPage('invalid_request', 'AADSTS50058: No signed-in user'))
      const grant = new provider.Grant({ clientId, accountId })
      const requested = normalizeScopes(params.scope)
      addOidcScopes(grant, requested, params)
      const byResource = new Map<string, string[]>()
      for (const s of requested) {
        const r = resourceOfScope(s)
        if (r !== undefined) byResource.set(r, [...(byResource.get(r) ?? []), s])
      }
      for (const [r, s] of byResource) grant.addResourceScope(r, s.join(' '))
      const grantId = await grant.save()
      return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true })
    }

    if (req.method !== 'POST') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Method not allowed' })
    let form: URLSearchParams
    try {
      form = new URLSearchParams((await readBody(req, 8 * 1024)).toString('utf8'))
    } catch {
      return sendHtml(res, 413, errorPage('invalid_request', 'The form is too large'))
    }
    if (form.get('action') === 'cancel' || form.has('cancel')) {
      return provider.interactionFinished(req, res, {
        error: 'access_denied',
        error_description: 'AADSTS65004: User declined to consent to access the app.'
      }, { mergeWithLastSubmission: false })
    }
    const user = findUser(users, form.get('user') ?? '')
    if (user === undefined) {
      return sendHtml(res, 400, signInPage({ action: `${mountPath}${paths.signIn}${uid}`, users, clientId, tenantId: tenant, scopes: normalizeScopes(params.scope) }))
    }
    return provider.interactionFinished(req, res, {
      login: { accountId: user.oid, amr: ['pwd'], remember: true }
    }, { mergeWithLastSubmission: false })
  }

  async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader('content-security-policy', DEV_IDP_CSP)
    res.setHeader('x-frame-options', 'DENY')
    const full = req.url ?? '/'
    if (full !== mountPath && !full.startsWith(`${mountPath}/`)) return sendJson(res, 404, { error: 'not_found', error_description: 'Not a development identity provider path' })
    let url = full.slice(mountPath.length) || '/'
    const q = url.indexOf('?')
    const pathname = q === -1 ? url : url.slice(0, q)
    const search = q === -1 ? '' : url.slice(q)

    try {
      if (pathname === paths.metadata) {
        url = `/.well-known/openid-configuration${search}`
      } else if (pathname.startsWith(paths.signIn)) {
        const uid = pathname.slice(paths.signIn.length)
        if (!/^[\w-]{1,64}$/.test(uid)) return sendHtml(res, 404, errorPage('invalid_request', 'Unknown sign-in page'))
        return await interaction(req, res, uid)
      } else if (!pathname.startsWith(`/${tenant}/`)) {
        // Entra serves nothing outside a tenant path (and only under the v2.0 paths used here).
        const first = pathname.split('/')[1] ?? ''
        return sendJson(res, 400, {
          error: 'invalid_tenant',
          error_description: `AADSTS90002: Tenant '${first}' not found. This development identity provider serves tenant ${tenant} only.`
        })
      } else if (pathname === paths.authorize && (req.method === 'GET' || req.method === 'HEAD')) {
        const query = new URLSearchParams(search)
        const scopes = normalizeScopes(query.get('scope') ?? undefined)
        // Entra apps hold the delegated Graph permission User.Read by default.
        if (scopes.includes('openid') && !scopes.some(s => s.startsWith(`${GRAPH_RESOURCE}/`))) scopes.push(`${GRAPH_RESOURCE}/User.Read`)
        if (query.has('scope')) query.set('scope', scopes.join(' '))
        query.delete(OFFLINE_MARKER)
        if (scopes.includes('offline_access')) query.set(OFFLINE_MARKER, '1')
        url = `${pathname}?${query.toString()}`
      } else if (pathname === paths.token && req.method === 'POST' && /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '')) {
        // Entra accepts bare Graph scope names and offline_access at the token endpoint; oidc-provider would refuse them.
        let body: string
        try {
          body = (await readBody(req)).toString('utf8')
        } catch {
          return sendJson(res, 413, { error: 'invalid_request', error_description: 'AADSTS90056: The request body is too large.' })
        }
        const form = new URLSearchParams(body)
        if (form.has('scope')) {
          form.set('scope', normalizeScopes(form.get('scope') ?? undefined).filter(s => s !== 'offline_access').join(' '))
          body = form.toString()
        }
        req = withBody(req, body)
      }
      req.url = url
      ;(req as IncomingMessage & { originalUrl?: string }).originalUrl = `${mountPath}${url}`
      await callback(req, res)
    } catch (err) {
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error', error_description: 'The development identity provider hit an unexpected condition' })
      else res.destroy(err as Error)
    }
  }

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
    handle
  }
}
