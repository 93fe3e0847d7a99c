// The deny list of tokens this service issued: written when a token or a grant is revoked,
// read (with the store epoch) on every request that presents one of our tokens.
import type { Store } from '../store/contract.ts'
import { revokedTokenKey, revokedGrantKey } from '../store/keys.ts'

/** The store entries that revoke a token of ours: its own (jti) and its grant's (sid); one hash slot. */
export function revocationKeys (jti: string, sid: string | undefined): string[] {
  return sid === undefined ? [revokedTokenKey(jti)] : [revokedTokenKey(jti, sid), revokedGrantKey(sid)]
}

/** The claims of a token to deny. */
export interface DeniedToken { jti: string, exp: number, sid: string | undefined }

export interface DenyList {
  /**
   * Refuses one self-issued access token until it expires anyway (its claims: `exp` in epoch seconds,
   * `sid` its grant or undefined; the entry shares the grant's hash slot, so `sid` must be stated).
   */
  denyAccessToken: (token: DeniedToken) => Promise<void>
  /** Refuses every self-issued access token of a grant. */
  denyGrant: (sid: string) => Promise<void>
}

/** `grantTtlSeconds`: how long a grant's tokens can live (the refresh token lifetime). */
export function createDenyList (store: Store, opts: { clockToleranceSeconds: number, grantTtlSeconds: number }): DenyList {
  return {
    async denyAccessToken ({ jti, exp, sid }) {
      // Kept until the token would be refused anyway (its exp plus the clock tolerance).
      const ttl = Math.max(1, Math.ceil(exp - Date.now() / 1000) + opts.clockToleranceSeconds)
      await store.set(revokedTokenKey(jti, sid), '1', ttl)
    },
    async denyGrant (sid) {
      await store.set(revokedGrantKey(sid), '1', opts.grantTtlSeconds)
    }
  }
}
