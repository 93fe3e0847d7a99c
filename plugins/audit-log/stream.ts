import type { FastifyBaseLogger } from 'fastify'
import type { RedisClient } from '../store/connection.ts'
import { createThrottle } from '../shared/throttle.ts'

export interface AuditStream { name: string, maxLen: number }

/**
 * The writer of AUDIT_REDIS_STREAM: appends one line per event
 * (`XADD <stream> MAXLEN ~ <maxLen> * event <name> line <json>`), fire and forget. A Redis problem
 * never delays or fails the request; it is logged once a minute with how many lines were dropped.
 */
export function createStreamWriter (redis: RedisClient, stream: AuditStream, log: FastifyBaseLogger): (line: Record<string, unknown>) => void {
  const maxLen = String(stream.maxLen)
  const streamWarning = createThrottle(60000)
  let dropped = 0
  return function append (line) {
    const json = JSON.stringify({ time: new Date().toISOString(), ...line })
    redis.xadd(stream.name, 'MAXLEN', '~', maxLen, '*', 'event', line.event as string, 'line', json).catch((err: NodeJS.ErrnoException) => {
      dropped++
      if (streamWarning()) {
        log.warn({ err: { code: err.code, message: err.message }, stream: stream.name, dropped }, 'audit stream unavailable; events are only in the log meanwhile')
      }
    })
  }
}
