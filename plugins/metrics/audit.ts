// Security events counted from the audit trail (fastify.onAudit): each written line, once. The
// lines carry identifiers (oid, tid, client id, IP) that never become labels: only event names,
// outcomes and reason codes do, each through a bounded label source.
import type { Metrics } from './registry.ts'
import { boundedLabel } from './labels.ts'

type Line = Readonly<Record<string, unknown>>

/** The scope denial's target: a tool or prompt by name (names come from the code), a resource or a route as such. */
function denialTarget (line: Line): unknown {
  if (typeof line.tool === 'string') return `tool:${line.tool}`
  if (typeof line.prompt === 'string') return `prompt:${line.prompt}`
  return line.resource !== undefined ? 'resource' : 'route'
}

export function createAuditCounter (metrics: Metrics): (line: Line) => void {
  const event = boundedLabel()
  const outcome = boundedLabel(8)
  const signInReason = boundedLabel()
  const rejection = boundedLabel()
  const target = boundedLabel()
  const family = boundedLabel()
  const keyKind = boundedLabel(16)

  return function countAuditLine (line: Line): void {
    metrics.auditEvents.inc({ event: event(line.event), outcome: outcome(line.outcome) })
    switch (line.event) {
      case 'login.succeeded':
      case 'login.failed':
        metrics.signIns.inc({
          outcome: outcome(line.outcome),
          reason: line.event === 'login.succeeded' ? 'none' : signInReason(line.reason),
          flow: line.flow === 'device' ? 'device' : 'browser'
        })
        break
      case 'token.rejected':
        metrics.tokenRejections.inc({ reason: rejection(line.reason) })
        break
      case 'scope.denied':
        metrics.scopeDenials.inc({ target: target(denialTarget(line)) })
        break
      case 'rate_limit.exceeded':
        metrics.rateLimitHits.inc({ family: family(line.family), key_kind: keyKind(line.key_kind) })
        break
    }
  }
}
