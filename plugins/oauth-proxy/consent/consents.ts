import type { FastifyReply, FastifyRequest } from 'fastify'
import type { GrantStore } from '../grants/model.ts'
import { consentCookieName, consentCookieOptions, isConsentSessionId, mergeScopes, newConsentSessionId, scopesCovered } from './consent-session.ts'

export interface Consents {
  /** True when this browser's consent session already approved these scopes for this client. */
  remembered (request: FastifyRequest, clientId: string, scopes: readonly string[]): Promise<boolean>
  /** Records an approval for the browser's consent session (made if absent) and sets its cookie. */
  remember (request: FastifyRequest, reply: FastifyReply, clientId: string, scopes: readonly string[]): Promise<void>
}

/** `fastify.consents`: approvals remembered per browser consent session (signed cookie) and client; off when CONSENT_TTL is 0. */
export function createConsents (opts: { grants: Pick<GrantStore, 'approvedScopes' | 'approveScopes'>, baseUrl: string, consentTtl: number }): Consents {
  const { grants, baseUrl, consentTtl } = opts
  const cookieName = consentCookieName(baseUrl)

  function consentSessionOf (request: FastifyRequest): string | undefined {
    const raw = request.cookies[cookieName]
    if (raw === undefined) return undefined
    const unsigned = request.unsignCookie(raw)
    return unsigned.valid && isConsentSessionId(unsigned.value) ? unsigned.value : undefined
  }

  return {
    async remembered (request, clientId, scopes) {
      if (consentTtl === 0) return false
      const session = consentSessionOf(request)
      if (session === undefined) return false
      const approved = await grants.approvedScopes(session, clientId)
      return approved !== null && scopesCovered(approved, scopes)
    },
    async remember (request, reply, clientId, scopes) {
      if (consentTtl === 0) return
      const session = consentSessionOf(request) ?? newConsentSessionId()
      const approved = await grants.approvedScopes(session, clientId) ?? []
      await grants.approveScopes(session, clientId, mergeScopes(approved, scopes))
      reply.setCookie(cookieName, session, consentCookieOptions(baseUrl, consentTtl))
    }
  }
}
