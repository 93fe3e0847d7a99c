import fp from 'fastify-plugin'

export interface CheckResult { ok: boolean, detail?: string }
export type ReadinessCheck = () => Promise<CheckResult>

declare module 'fastify' {
  interface FastifyInstance {
    /** Named checks that /health/ready runs; each concern adds its own. */
    readinessChecks: Map<string, ReadinessCheck>
  }
}

export default fp(async function readiness (fastify) {
  fastify.decorate('readinessChecks', new Map<string, ReadinessCheck>())
}, { name: 'readiness' })
