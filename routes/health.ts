import type { LevelWithSilent } from 'pino'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import Type from 'typebox'
import { publicConfig } from '../config/index.ts'

const CHECK_TIMEOUT_MS = 1500

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

const CheckSchema = Type.Object({ ok: Type.Boolean(), detail: Type.Optional(Type.String()) })
const ReadySchema = Type.Object({
  status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
  checks: Type.Record(Type.String(), CheckSchema)
})

async function runCheck (check: () => Promise<{ ok: boolean, detail?: string }>) {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<{ ok: boolean, detail: string }>(resolve => {
    timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${CHECK_TIMEOUT_MS} ms` }), CHECK_TIMEOUT_MS)
  })
  try {
    return await Promise.race([check(), timeout])
  } catch (err) {
    return { ok: false, detail: (err as Error).message }
  } finally {
    clearTimeout(timer)
  }
}

const health: FastifyPluginAsyncTypebox = async function (fastify) {
  // Probes every few seconds must not flood the log (at most warn, or quieter if configured)
  // nor spend the rate budget.
  const level = LEVELS.indexOf(fastify.config.logLevel) > LEVELS.indexOf('warn') ? fastify.config.logLevel : 'warn'
  const quiet = { logLevel: level as LevelWithSilent, config: { rateLimit: false } }

  fastify.get('/health', {
    ...quiet,
    schema: { response: { 200: Type.Object({ status: Type.Literal('ok') }) } }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/health/ready', {
    ...quiet,
    schema: { response: { 200: ReadySchema, 503: ReadySchema } }
  }, async (request, reply) => {
    const names = [...fastify.readinessChecks.keys()]
    const results = await Promise.all([...fastify.readinessChecks.values()].map(runCheck))
    const checks = Object.fromEntries(names.map((name, i) => [name, results[i]]))
    const ready = results.every(r => r.ok)
    if (!ready) request.log.warn({ checks }, 'not ready')
    reply.header('cache-control', 'no-store')
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks })
  })

  fastify.get('/auth/info', quiet, async () => publicConfig(fastify.config, fastify.store.kind))
}

export default health
