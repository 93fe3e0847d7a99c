import { setJson, takeJson, type Store } from '../../store/contract.ts'
import { claimsChallengeKey } from '../../store/keys.ts'
import type { ClaimsRequest } from '../upstream-entra/claims.ts'
import type { Grant, GrantUser } from './records.ts'

// Conditional Access claims challenges between the grant they ended and the next sign-in of the same
// user with the same client (plugins/oauth-proxy/upstream-entra/claims.ts says why they matter).

/** A challenge not used within this time is dropped: the next sign-in is then a plain one. */
export const CLAIMS_CHALLENGE_TTL = 3600

export class ClaimsChallenges {
  constructor (private readonly store: Store) {}

  /** Keeps Entra's challenge for the next sign-in of the grant's user with the grant's client. */
  async remember (grant: Pick<Grant, 'clientId' | 'user'>, challenge: ClaimsRequest): Promise<void> {
    await setJson(this.store, keyOf(grant.clientId, grant.user), challenge, CLAIMS_CHALLENGE_TTL)
  }

  /** The waiting challenge, removed: it is passed to Entra once. */
  async take (clientId: string, user: GrantUser): Promise<ClaimsRequest | null> {
    return await takeJson<ClaimsRequest>(this.store, keyOf(clientId, user))
  }
}

/** By tenant and object id (the subject when Entra gave no oid). */
function keyOf (clientId: string, user: GrantUser): string {
  return claimsChallengeKey(clientId, user.tid ?? '', user.oid ?? user.sub)
}
