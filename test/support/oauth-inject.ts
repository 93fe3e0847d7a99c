// The OAuth proxy without a listening server or a browser, for route tests about /token's behaviour
// rather than the sign-in: clients registered at /register, codes minted through the grants model
// (a signed-in user, as the callback leaves it), /token and /mcp driven with inject. Not a test file.
import type { FastifyInstance } from 'fastify'
import { build, type BuildOptions } from '../helper.ts'
import { pkcePair } from './browserless.ts'
import { REDIRECT_URI, TOOLS_LIST, type TestClient } from './oauth-flow.ts'
import type { GrantUser } from '../../plugins/oauth-proxy/grants/records.ts'

/** The user codeFor signs in unless told otherwise. */
export const ADA: GrantUser = { sub: 'sub', oid: 'oid', tid: 'tid', name: 'Ada Lovelace' }

export interface InjectedAnswer {
  status: number
  body: any
  headers: Headers
}

/** Builds the app (logs collected in `logs`) and returns the steps of a flow through inject. */
export async function injectedOAuth (t: Parameters<typeof build>[0], env: Record<string, string>, opts: Pick<BuildOptions, 'app'> = {}) {
  const logs: string[] = []
  let inner: FastifyInstance | undefined
  const app = await build(t, env, { ...opts, logs, setup: i => { inner = i } })
  const api = inner as FastifyInstance

  const register = async (metadata: Record<string, unknown> = {}): Promise<TestClient> => {
    const res = await app.inject({ method: 'POST', url: '/register', payload: { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], client_name: 'Flow Test Client', ...metadata } })
    if (res.statusCode !== 201) throw new Error(`registration failed: ${res.statusCode} ${res.body}`)
    return res.json() as TestClient
  }

  /** A code for the client, as a completed sign-in and consent would leave it (by Ada Lovelace unless `user` says who). */
  const codeFor = async (client: { client_id: string }, user: GrantUser = ADA) => {
    const { verifier, challenge } = await pkcePair()
    const tx = { id: 'x'.repeat(43), clientId: client.client_id, redirectUri: REDIRECT_URI, state: 's', codeChallenge: challenge, scopes: ['tools.read', 'tools.write'], resource: api.config.resource, csrf: 'c', browser: 'b', createdAt: 0 }
    const { code } = await api.grants.createGrant({ tx, user, tokens: { access_token: 'entra-at', expires_in: 3600 } })
    return { code, verifier, challenge }
  }

  const post = async (payload: string, type = 'application/x-www-form-urlencoded', headers: Record<string, string> = {}): Promise<InjectedAnswer> => {
    const res = await app.inject({ method: 'POST', url: '/token', headers: { 'content-type': type, ...headers }, payload })
    let body: any
    try { body = res.json() } catch { body = res.body }
    return { status: res.statusCode, body, headers: new Headers(res.headers as Record<string, string>) }
  }

  /** A form POST to /token (undefined fields left out). */
  const token = async (form: Record<string, string | undefined>, headers: Record<string, string> = {}) => {
    const body = new URLSearchParams()
    for (const [k, v] of Object.entries(form)) if (v !== undefined) body.set(k, v)
    return await post(body.toString(), undefined, headers)
  }

  /** A seeded code redeemed at /token, as oauth-flow's fullFlow does after the sign-in. */
  const signedIn = async (client: TestClient, user?: GrantUser) => {
    const { code, verifier } = await codeFor(client, user)
    const tokens = await token({ grant_type: 'authorization_code', code, redirect_uri: client.redirect_uris[0], code_verifier: verifier, client_id: client.client_id, client_secret: client.client_secret })
    return { code, verifier, tokens }
  }

  /** Status of an MCP tools/list call with this access token (200 accepted, 401 refused). */
  const mcpStatus = async (accessToken: string): Promise<number> => {
    const res = await app.inject({ method: 'POST', url: '/mcp', headers: { authorization: `Bearer ${accessToken}`, ...TOOLS_LIST.headers }, payload: TOOLS_LIST.body })
    return res.statusCode
  }

  return { app, api, logs, register, codeFor, post, token, signedIn, mcpStatus }
}
