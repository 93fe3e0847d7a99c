import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import formbody from '@fastify/formbody'
import Type, { type Static } from 'typebox'
import { InvalidGrantError, InvalidRequestError, InvalidScopeError, InvalidTargetError, UnauthorizedClientError, UnsupportedGrantTypeError } from '../../plugins/errors/oauth.ts'
import { getJson, setJson } from '../../plugins/store/contract.ts'
import { verifyS256 } from '../../plugins/oauth-proxy/authorize/pkce.ts'
import { requestedScopes } from '../../plugins/oauth-proxy/authorize/requested-scopes.ts'
import { isThisResource } from '../../plugins/oauth-proxy/authorize/resource-indicator.ts'
import {
  USED_CODE_TTL, isOpaqueToken, type CodeRecord, type RefreshRecord
} from '../../plugins/oauth-proxy/grants/records.ts'
import type { ClientRecord } from '../../plugins/oauth-proxy/clients/registry.ts'
import { codeKey, codeUseKey, refreshKey, refreshUseKey } from '../../plugins/store/keys.ts'

const Param = (maxLength = 4096) => Type.Optional(Type.String({ maxLength }))

const Body = Type.Object({
  grant_type: Param(200),
  code: Param(),
  redirect_uri: Param(2000),
  code_verifier: Param(200),
  refresh_token: Param(),
  scope: Param(1000),
  resource: Param(2000),
  client_id: Param(2000),
  client_secret: Param(500),
  client_assertion: Param(8192),
  client_assertion_type: Param(200)
})

type TokenBody = Static<typeof Body>

const TokenAnswer = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer(),
  refresh_token: Type.Optional(Type.String()),
  scope: Type.String()
})
const ErrorAnswer = Type.Object({ error: Type.String(), error_description: Type.Optional(Type.String()) })

/** RFC 7591: a client registered without grant_types has only authorization_code. */
const mayRefresh = (client: ClientRecord) => (client.grant_types ?? ['authorization_code']).includes('refresh_token')

const invalidGrant = (description: string) => new InvalidGrantError(description)

/**
 * POST /token: `authorization_code` (PKCE S256, redirect URI and client bound to the code; a code
 * redeemed twice revokes its grant) and `refresh_token` (rotated on every use; an already-used one
 * revokes the grant). Client authentication: none, client_secret_post, client_secret_basic,
 * private_key_jwt (RFC 7523; metadata-document clients such as ChatGPT).
 */
const token: FastifyPluginAsyncTypebox = async function (fastify) {
  const { config, store, oauthProxy } = fastify
  if (!fastify.hasContentTypeParser('application/x-www-form-urlencoded')) await fastify.register(formbody)

  fastify.addHook('onSend', async (request, reply) => {
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
  })

  function checkResource (resource: string | undefined) {
    if (resource !== undefined && !isThisResource(resource, config.resource)) {
      throw new InvalidTargetError(`Unknown resource; this service's resource is ${config.resource}`)
    }
  }

  async function authorizationCode (request: FastifyRequest, client: ClientRecord, body: TokenBody) {
    if (body.code === undefined || body.code === '') throw new InvalidRequestError('code is required')
    if (body.code_verifier === undefined) throw new InvalidRequestError('code_verifier is required (PKCE)')
    if (!isOpaqueToken(body.code)) throw invalidGrant('The authorization code is unknown, expired or already used')
    checkResource(body.resource)
    const record = await getJson<CodeRecord>(store, codeKey(body.code))
    if (record === null) throw invalidGrant('The authorization code is unknown, expired or already used')
    const replayed = async () => {
      await oauthProxy.revokeGrant(record.sid, 'code_replay', request)
      return invalidGrant('The authorization code was already used; every token issued with it is revoked')
    }
    if (record.used === true) throw await replayed()
    if (record.clientId !== client.client_id) throw invalidGrant('The authorization code was issued to another client')
    if (body.redirect_uri !== undefined && body.redirect_uri !== record.redirectUri) {
      throw invalidGrant('redirect_uri does not match the one of the authorization request')
    }
    if (!verifyS256(body.code_verifier, record.codeChallenge)) throw invalidGrant('The PKCE code_verifier does not match the code_challenge')

    // One redemption only: the counter is atomic across instances; the record stays, marked used,
    // so that a replay (even after the code's own 60 s) finds the grant and revokes it.
    if (await store.incr(codeUseKey(body.code), USED_CODE_TTL) > 1) throw await replayed()
    await setJson(store, codeKey(body.code), { ...record, used: true }, USED_CODE_TTL)

    const grant = await oauthProxy.readGrant(record.sid)
    if (grant === null) throw invalidGrant('The sign-in behind this code no longer exists')
    const answer = await oauthProxy.issueTokens(grant, record.scopes, { refreshToken: mayRefresh(client) })
    fastify.audit('token.issued', { grant_type: 'authorization_code', client_id: client.client_id, oid: grant.user.oid, tid: grant.user.tid, scopes: record.scopes }, request)
    return answer
  }

  async function refreshToken (request: FastifyRequest, client: ClientRecord, body: TokenBody) {
    if (body.refresh_token === undefined || body.refresh_token === '') throw new InvalidRequestError('refresh_token is required')
    if (!isOpaqueToken(body.refresh_token)) throw invalidGrant('The refresh token is unknown, expired or revoked')
    checkResource(body.resource)
    const record = await getJson<RefreshRecord>(store, refreshKey(body.refresh_token))
    if (record === null) throw invalidGrant('The refresh token is unknown, expired or revoked')
    if (record.clientId !== client.client_id) throw invalidGrant('The refresh token was issued to another client')
    const reused = async () => {
      fastify.audit('token.refresh_reused', { outcome: 'failure', client_id: client.client_id }, request)
      await oauthProxy.revokeGrant(record.sid, 'refresh_reused', request)
      return invalidGrant('The refresh token was already used; the grant is revoked, sign in again')
    }
    // A client whose processes share one refresh token (Claude Code sessions) refreshes with it
    // twice at once: within the grace period a second use refreshes too, and only a later one is a
    // replay. Each use gets its own new refresh token.
    const graceMs = config.refreshReuseGrace * 1000
    const inGrace = (usedAt: number | undefined) => graceMs > 0 && usedAt !== undefined && Date.now() - usedAt <= graceMs
    if (record.used === true && !inGrace(record.usedAt)) throw await reused()

    let scopes = record.scopes
    if (body.scope !== undefined) {
      const asked = requestedScopes(body.scope, config.scopes)
      const beyond = asked.filter(s => !record.scopes.includes(s))
      if (beyond.length > 0) throw new InvalidScopeError(`The grant does not include: ${beyond.join(' ')}`)
      if (asked.length > 0) scopes = asked
    }
    let grant = await oauthProxy.readGrant(record.sid)
    if (grant === null) throw invalidGrant('The sign-in behind this refresh token no longer exists (revoked or expired)')

    // Entra first (it may say the user's session is over); the refresh token is spent only after.
    try {
      grant = await oauthProxy.renewUpstream(grant, request)
    } catch (err) {
      if (err instanceof InvalidGrantError) await oauthProxy.revokeGrant(record.sid, 'upstream_ended', request)
      throw err
    }
    const uses = await store.incr(refreshUseKey(body.refresh_token), config.refreshTokenTtl)
    let marked: RefreshRecord | null = null
    if (uses > 1) {
      if (graceMs === 0) throw await reused()
      // Not marked yet: the other refresh with this token is in flight right now (it marks it next).
      marked = await getJson<RefreshRecord>(store, refreshKey(body.refresh_token))
      if (marked === null) throw invalidGrant('The refresh token is unknown, expired or revoked')
      if (marked.used === true && !inGrace(marked.usedAt)) throw await reused()
    }
    if (marked?.used !== true) await setJson(store, refreshKey(body.refresh_token), { ...record, used: true, usedAt: Date.now() }, config.refreshTokenTtl)

    const answer = await oauthProxy.issueTokens(grant, scopes, { refreshToken: true })
    fastify.audit('token.refreshed', { client_id: client.client_id, oid: grant.user.oid, tid: grant.user.tid, scopes, ...(uses > 1 ? { reuse_within_grace: true } : {}) }, request)
    return answer
  }

  fastify.post('/token', {
    config: { rateLimitFamily: 'token' },
    bodyLimit: 16384,
    schema: { body: Body, response: { 200: TokenAnswer, '4xx': ErrorAnswer, '5xx': ErrorAnswer } }
  }, async (request) => {
    const body = request.body ?? {}
    if (body.grant_type === undefined || body.grant_type === '') throw new InvalidRequestError('grant_type is required')
    if (body.grant_type !== 'authorization_code' && body.grant_type !== 'refresh_token') {
      throw new UnsupportedGrantTypeError('Supported grant types: authorization_code, refresh_token')
    }
    const client = await oauthProxy.authenticateClient(request, body)
    if (client.grant_types !== undefined && !client.grant_types.includes(body.grant_type)) {
      throw new UnauthorizedClientError(`This client did not register the ${body.grant_type} grant`)
    }
    const answer = body.grant_type === 'authorization_code'
      ? await authorizationCode(request, client, body)
      : await refreshToken(request, client, body)
    const { jti: _jti, ...response } = answer
    return response
  })
}

export default token
