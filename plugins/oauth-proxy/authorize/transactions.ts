import { randomBytes } from 'node:crypto'
import type { AuthorizeParams } from './request.ts'

/**
 * One authorize request, from GET /authorize to the callback from Entra (stored by the grants model,
 * plugins/oauth-proxy/grants/model.ts). Its id is also the
 * `state` sent upstream. It is read (not consumed) by the consent page, taken atomically when
 * the consent form is posted (and put back with the upstream PKCE verifier and nonce), and taken
 * atomically by the callback: a second callback with the same state finds nothing.
 */
export interface AuthorizeTransaction extends AuthorizeParams {
  id: string
  csrf: string
  /** SHA-256 of the browser secret set as a cookie at /authorize (plugins/oauth-proxy/authorize/browser-binding.ts). */
  browser: string
  /** Epoch seconds. */
  createdAt: number
  /**
   * A device grant's sign-in (RFC 8628): the device authorization it answers. Its redirect URI is
   * the service's /device page and it has no code challenge: the answer goes to the device record.
   */
  device?: { id: string }
  /**
   * Set once the user approved: the upstream leg's own PKCE verifier and OIDC nonce (server-side only);
   * `challenged` when this leg carries a Conditional Access claims challenge (routes/oauth/callback.ts).
   */
  upstream?: { verifier: string, nonce: string, challenged?: true }
}

export const TRANSACTION_TTL = 600

const TX_ID = /^[A-Za-z0-9_-]{43}$/
export function isTransactionId (value: unknown): value is string {
  return typeof value === 'string' && TX_ID.test(value)
}

export function newTransactionId (): string {
  return randomBytes(32).toString('base64url')
}

/** Seconds the transaction has left (at least 1), counted from its creation. */
export function remainingTtl (tx: AuthorizeTransaction, nowSeconds: number): number {
  return Math.max(1, tx.createdAt + TRANSACTION_TTL - nowSeconds)
}
