import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AuditFeed } from '../../plugins/audit-log/feed.ts'
import type { FeedFilter } from '../../plugins/audit-log/feed-filter.ts'
import { compareIds, type FeedEvent } from '../../plugins/audit-log/feed-event.ts'
import { eventItem } from './dashboard-schemas.ts'

// GET /admin/events as server-sent events: history (after Last-Event-ID, or the latest events),
// then live events, a heartbeat comment, and clean-up when the client goes. Node's requestTimeout
// only bounds receiving the request, which a GET has done at once, so a stream may stay open.

export interface EventStreamOptions {
  /** A comment line this often keeps proxies (App Service's front end: 230 s idle) from closing the stream. */
  heartbeatMs: number
  /** Past this many bytes unsent (a client that does not read), the stream is ended; it reconnects with Last-Event-ID. */
  maxUnsent: number
}

export const EVENT_STREAM: EventStreamOptions = { heartbeatMs: 15_000, maxUnsent: 1_048_576 }
/** Events replayed at most when a stream opens. */
export const REPLAY_LIMIT = 200
const LATEST = 50

const frame = (e: FeedEvent) => `id: ${e.id}\nevent: audit\ndata: ${JSON.stringify(eventItem(e))}\n\n`

/** Open streams of one plugin instance, ended before the server closes (else close waits for them). */
export type OpenStreams = Set<() => void>

export async function serveEventStream (request: FastifyRequest, reply: FastifyReply, feed: AuditFeed, filter: FeedFilter, lastEventId: string | undefined, opts: EventStreamOptions, open: OpenStreams): Promise<void> {
  // Subscribed before the history is read, so nothing falls between the two; held until it is sent.
  let held: FeedEvent[] | undefined = []
  let write = (e: FeedEvent) => { held?.push(e) }
  const unsubscribe = feed.subscribe(filter, e => { write(e) })
  const res = reply.raw
  // A client gone while the history is read would otherwise leave its subscription behind.
  let gone = false
  const onGone = () => { gone = true }
  res.once('close', onGone)
  let history: FeedEvent[]
  try {
    history = lastEventId !== undefined ? await feed.after(lastEventId, filter, REPLAY_LIMIT) : (await feed.recent(filter, LATEST)).reverse()
  } catch (err) {
    unsubscribe()
    res.off('close', onGone)
    throw err
  }
  reply.hijack()
  res.off('close', onGone)
  if (gone) {
    unsubscribe()
    return
  }
  // Headers set on the reply so far (x-request-id) go out with the stream's own.
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) res.setHeader(name, value)
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    // nginx and similar proxies would otherwise buffer the stream.
    'x-accel-buffering': 'no'
  })
  const heartbeat = setInterval(() => { res.write(': heartbeat\n\n') }, opts.heartbeatMs)
  heartbeat.unref()
  const end = () => {
    clearInterval(heartbeat)
    unsubscribe()
    open.delete(end)
    if (!res.writableEnded) res.end()
  }
  open.add(end)
  res.on('close', end)

  let lastSent = lastEventId
  const send = (e: FeedEvent) => {
    if (lastSent !== undefined && compareIds(e.id, lastSent) <= 0) return
    lastSent = e.id
    res.write(frame(e))
    if (res.writableLength > opts.maxUnsent) {
      request.log.warn('admin event stream ended: the client does not read')
      end()
    }
  }
  res.write('retry: 3000\n\n')
  for (const e of history) send(e)
  for (const e of held) send(e)
  held = undefined
  write = send
}
