import { randomBytes } from 'node:crypto'
import { getJson, setJson, takeJson, type Store } from '../store/contract.ts'
import { adminLoginKey, adminSessionKey } from '../store/keys.ts'
import { createCodeVerifier } from '../oauth-proxy/authorize/pkce.ts'

// The admin area's own state: a sign-in under way at Entra (`admin-login:`), and an administrator's
// browser session (`admin-session:`), apart from the OAuth grants of MCP clients. The session id is
// opaque, random, made only when a sign-in succeeds (never taken from the request: no fixation),
// and stored by its hash.

/** A sign-in started at /admin/login, finished at /auth/callback (its state is `admin.<id>`). */
export interface AdminLogin {
  /** SHA-256 of the browser secret set as a cookie at /admin/login (browser-binding.ts). */
  browser: string
  /** The upstream leg's PKCE verifier and OIDC nonce (server-side only). */
  verifier: string
  nonce: string
  /** Where to go once signed in: a path under /admin. */
  returnTo: string
  /** Epoch seconds. */
  createdAt: number
}

/** Who signed in, as the verified id token says. */
export interface AdminUser { oid: string, tid: string, name?: string, username?: string, roles: string[] }

/** `admin-session:{sha256(id)}`. */
export interface AdminSession extends AdminUser {
  /** The synchronizer token of this session's forms (and `x-csrf-token` header). */
  csrf: string
  /** Epoch seconds: the absolute lifetime counts from here, the idle lifetime from lastSeenAt. */
  createdAt: number
  lastSeenAt: number
}

export const ADMIN_LOGIN_TTL = 600
/** Marks the upstream `state` of an admin sign-in, so /auth/callback hands it to the admin area. */
export const ADMIN_STATE_PREFIX = 'admin.'
const ID = /^[A-Za-z0-9_-]{43}$/
const newId = () => randomBytes(32).toString('base64url')

export function isAdminState (state: unknown): state is string {
  return typeof state === 'string' && state.startsWith(ADMIN_STATE_PREFIX) && ID.test(state.slice(ADMIN_STATE_PREFIX.length))
}

export function isSessionId (value: unknown): value is string {
  return typeof value === 'string' && ID.test(value)
}

export interface AdminSessionsOptions {
  store: Store
  /** Seconds: absolute (from sign-in) and idle (from the last request) lifetimes. */
  ttl: number
  idle: number
  /** Epoch seconds; a test seam (AppOptions.adminClock). */
  now?: () => number
}

export class AdminSessions {
  private readonly store: Store
  private readonly ttl: number
  private readonly idle: number
  private readonly now: () => number

  constructor (opts: AdminSessionsOptions) {
    this.store = opts.store
    this.ttl = opts.ttl
    this.idle = opts.idle
    this.now = opts.now ?? (() => Math.floor(Date.now() / 1000))
  }

  /** A sign-in bound to a browser (the hash of its secret): its upstream state, PKCE verifier and nonce. */
  async startLogin (browser: string, returnTo: string): Promise<{ state: string, login: AdminLogin }> {
    const id = newId()
    const login: AdminLogin = { browser, verifier: createCodeVerifier(), nonce: newId(), returnTo, createdAt: this.now() }
    await setJson(this.store, adminLoginKey(id), login, ADMIN_LOGIN_TTL)
    return { state: `${ADMIN_STATE_PREFIX}${id}`, login }
  }

  /** Read without taking: a callback in another browser must leave it to its own browser. */
  async readLogin (state: string): Promise<AdminLogin | null> {
    return isAdminState(state) ? await getJson<AdminLogin>(this.store, adminLoginKey(state.slice(ADMIN_STATE_PREFIX.length))) : null
  }

  /** Atomic: of two callbacks with one state, one gets it. */
  async takeLogin (state: string): Promise<AdminLogin | null> {
    return isAdminState(state) ? await takeJson<AdminLogin>(this.store, adminLoginKey(state.slice(ADMIN_STATE_PREFIX.length))) : null
  }

  /** A new session with a new id and CSRF token; the id goes to the cookie, only its hash to the store. */
  async create (user: AdminUser): Promise<{ id: string, session: AdminSession }> {
    const id = newId()
    const now = this.now()
    const session: AdminSession = { ...user, csrf: newId(), createdAt: now, lastSeenAt: now }
    await setJson(this.store, adminSessionKey(id), session, Math.min(this.idle, this.ttl))
    return { id, session }
  }

  /**
   * The live session of an id, or null (unknown, or past its absolute or idle lifetime: then
   * deleted). A live session is touched: its idle lifetime starts again.
   */
  async read (id: unknown): Promise<AdminSession | null> {
    if (!isSessionId(id)) return null
    const key = adminSessionKey(id)
    const session = await getJson<AdminSession>(this.store, key)
    if (session === null) return null
    const now = this.now()
    const left = Math.min(session.createdAt + this.ttl, session.lastSeenAt + this.idle) - now
    if (left <= 0) {
      await this.store.delete(key)
      return null
    }
    const touched = { ...session, lastSeenAt: now }
    await setJson(this.store, key, touched, Math.max(1, Math.min(this.idle, session.createdAt + this.ttl - now)))
    return touched
  }

  async destroy (id: unknown): Promise<void> {
    if (isSessionId(id)) await this.store.delete(adminSessionKey(id))
  }
}
