// One audit event as the admin feed holds it: an id that orders events (a Redis stream id, or one
// of the same shape made in process), the time, the fields the filters and charts read, and the
// masked line itself.

export interface FeedEvent {
  /** `<ms>-<seq>`: a Redis stream id, or the same shape for the in-process buffer. */
  id: string
  /** Epoch ms. */
  at: number
  event: string
  outcome: string
  oid?: string
  tid?: string
  client_id?: string
  reason?: string
  /** The audit line as written (secrets already masked). */
  line: Readonly<Record<string, unknown>>
}

/** The shape of an event id (Last-Event-ID, stream ids). */
export const EVENT_ID = /^(\d{1,15})-(\d{1,10})$/

const text = (value: unknown, max = 512): string | undefined => typeof value === 'string' && value !== '' ? value.slice(0, max) : undefined

export function feedEvent (id: string, at: number, line: Readonly<Record<string, unknown>>): FeedEvent {
  const event: FeedEvent = { id, at, event: text(line.event, 64) ?? 'unknown', outcome: text(line.outcome, 16) ?? 'success', line }
  const oid = text(line.oid, 64)
  const tid = text(line.tid, 64)
  const clientId = text(line.client_id)
  const reason = text(line.reason, 64)
  if (oid !== undefined) event.oid = oid
  if (tid !== undefined) event.tid = tid
  if (clientId !== undefined) event.client_id = clientId
  if (reason !== undefined) event.reason = reason
  return event
}

/** Negative, zero or positive as id `a` is before, equal to or after `b` (both of EVENT_ID's shape). */
export function compareIds (a: string, b: string): number {
  const [am, as] = a.split('-').map(Number)
  const [bm, bs] = b.split('-').map(Number)
  return am !== bm ? am - bm : as - bs
}

/** Ids for events of this process: the ms time and a sequence within that ms, like XADD's `*`. */
export function createIdSource (): (at: number) => string {
  let lastMs = -1
  let seq = 0
  return (at) => {
    // The clock may step back: ids still increase, as Redis keeps them.
    const ms = Math.max(at, lastMs)
    seq = ms === lastMs ? seq + 1 : 0
    lastMs = ms
    return `${ms}-${seq}`
  }
}
