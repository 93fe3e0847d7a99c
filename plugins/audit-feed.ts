import fp from 'fastify-plugin'
import { createMemoryFeed, createStreamFeed, type AuditFeed, type FeedLimits } from './audit-log/feed.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The admin dashboard's audit feed (plugins/audit-log/feed.ts). */
    auditFeed: AuditFeed
  }
}

export interface AuditFeedOptions {
  /** Test seams: bounds (FEED_LIMITS by default) and the clock of the chart counts. */
  limits?: Partial<FeedLimits>
  now?: () => number
}

/** How long one blocking read of the stream waits before it asks again. */
const BLOCK_MS = 5000

/**
 * `fastify.auditFeed`: with AUDIT_REDIS_STREAM (and the Redis store), read from the shared stream on a
 * dedicated connection; otherwise from this instance's audit lines (fastify.onAudit). Closed in onClose.
 */
export default fp<AuditFeedOptions>(async function auditFeed (fastify, opts) {
  const { config } = fastify
  const name = config.audit.redisStream
  const log = fastify.log.child({ concern: 'audit-feed' })
  const feed = name !== undefined && fastify.redis !== null && fastify.dedicatedRedis !== null
    ? createStreamFeed({
      name,
      shared: fastify.redis,
      // The blocking read waits BLOCK_MS: its connection's command timeout must be longer.
      blocking: fastify.dedicatedRedis({ commandTimeout: BLOCK_MS + 3000, connectionName: 'emg-audit-feed' }),
      blockMs: BLOCK_MS,
      log,
      limits: opts.limits,
      now: opts.now
    })
    : createMemoryFeed({ onAudit: fastify.onAudit, log, limits: opts.limits, now: opts.now })
  fastify.decorate('auditFeed', feed)
  fastify.addHook('onClose', async () => { await feed.close() })
}, { name: 'audit-feed', dependencies: ['config', 'store', 'audit-log'] })
