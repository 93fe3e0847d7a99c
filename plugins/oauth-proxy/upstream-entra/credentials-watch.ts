import type { FastifyBaseLogger } from 'fastify'
import { upstreamFailure } from './aadsts.ts'
import { UpstreamError } from './errors.ts'
import type { EntraTokenSet } from './token-endpoint.ts'
import { createThrottle } from '../../shared/throttle.ts'

export interface CredentialsWatch {
  /** For /health/ready: Entra's last word on the service's own credentials. */
  readiness (): Promise<{ ok: boolean, detail: string }>
  /** Every token request goes through here: readiness and an error line (once a minute) for what only the operator can fix. */
  observed (grantType: string, call: () => Promise<EntraTokenSet>): Promise<EntraTokenSet>
}

/** Watches Entra's answers to the service's token requests: a refusal of its credentials until any token is issued. */
export function createCredentialsWatch (log: FastifyBaseLogger): CredentialsWatch {
  // Entra's last word on the service's own credentials, for /health/ready: any token it issues clears it.
  let credentialsRefused: string | undefined
  const errorLogAllowed = { credentials: createThrottle(60000), configuration: createThrottle(60000) }

  return {
    readiness: async () => credentialsRefused === undefined
      ? { ok: true, detail: 'not refused by Microsoft Entra ID' }
      : { ok: false, detail: credentialsRefused },

    async observed (grantType, call) {
      try {
        const tokens = await call()
        credentialsRefused = undefined
        return tokens
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err
        const failure = upstreamFailure(err)
        if (failure === 'credentials') credentialsRefused = `Microsoft Entra ID refused the service's credentials: ${err.aadsts ?? 'no AADSTS code'} (${err.error})`
        if ((failure === 'credentials' || failure === 'configuration') && errorLogAllowed[failure]()) {
          log.error({ upstream_error: err.error, aadsts: err.aadsts, failure, grant_type: grantType, description: err.message },
            `Microsoft Entra ID refused the service's ${failure === 'credentials' ? 'own credentials' : 'request'} for good; the operator must act (repeats are not logged for a minute)`)
        }
        throw err
      }
    }
  }
}
