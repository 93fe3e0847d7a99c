import { Type, type Static } from '@fastify/type-provider-typebox'
import { FILTER_LIMITS, FEED_WINDOWS, OUTCOMES, type FeedFilter } from '../../plugins/audit-log/feed-filter.ts'
import type { FeedEvent } from '../../plugins/audit-log/feed-event.ts'

// TypeBox schemas of the dashboard's routes. Every filter is bounded in length and shape; an empty
// value (a form field left blank) means no filter.

const Literals = <T extends string>(values: readonly T[]) => Type.Union(values.map(v => Type.Literal(v)))

export const FilterQuery = {
  /** An event name or a family (`login.*`). */
  event: Type.Optional(Type.String({ maxLength: FILTER_LIMITS.event, pattern: '^([a-z_]{1,32}(\\.([a-z_]{1,30}|\\*))?)?$' })),
  oid: Type.Optional(Type.String({ maxLength: FILTER_LIMITS.oid, pattern: '^[A-Za-z0-9._-]*$' })),
  client: Type.Optional(Type.String({ maxLength: FILTER_LIMITS.client_id, pattern: '^[^\\u0000-\\u001f\\u007f]*$' })),
  outcome: Type.Optional(Type.Union([Literals(OUTCOMES), Type.Literal('')])),
  window: Type.Optional(Type.Union([Literals(Object.keys(FEED_WINDOWS) as Array<keyof typeof FEED_WINDOWS>), Type.Literal('')]))
}
export const FilterQueryObject = Type.Object(FilterQuery)
export type FilterQueryType = Static<typeof FilterQueryObject>

export const SummaryWindowSchema = Type.Union([Type.Literal('1h'), Type.Literal('24h')], { default: '1h' })

export const PageQuery = Type.Object({ ...FilterQuery, chart: Type.Optional(SummaryWindowSchema) })
export const StreamQuery = Type.Object(FilterQuery)
export const StreamHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ maxLength: 27, pattern: '^\\d{1,15}-\\d{1,10}$' }))
})
export const EventsQuery = Type.Object({ ...FilterQuery, limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }) })
export const SummaryQuery = Type.Object({ window: SummaryWindowSchema, top: Type.Integer({ minimum: 1, maximum: 50, default: 10 }) })

export const ErrorBody = Type.Object({ error: Type.String(), error_description: Type.String() })

export const EventItem = Type.Object({
  id: Type.String(),
  time: Type.String({ format: 'date-time' }),
  event: Type.String(),
  outcome: Type.String(),
  oid: Type.Optional(Type.String()),
  tid: Type.Optional(Type.String()),
  client_id: Type.Optional(Type.String()),
  reason: Type.Optional(Type.String()),
  /** The audit line as written (secrets masked). */
  line: Type.Record(Type.String(), Type.Unknown())
})
export type EventItemType = Static<typeof EventItem>
export const EventsAnswer = Type.Object({ source: Type.Union([Type.Literal('memory'), Type.Literal('redis-stream')]), events: Type.Array(EventItem) })

const Series = Type.Array(Type.Integer({ minimum: 0 }))
const TopEntry = Type.Object({
  id: Type.String(),
  sign_ins_succeeded: Type.Integer(),
  sign_ins_failed: Type.Integer(),
  token_rejections: Type.Integer(),
  scope_denials: Type.Integer(),
  rate_limit_hits: Type.Integer(),
  total: Type.Integer()
})
export const SummaryAnswer = Type.Object({
  window: SummaryWindowSchema,
  bucket_seconds: Type.Integer(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  buckets: Type.Array(Type.String({ format: 'date-time' })),
  sign_ins: Type.Object({ succeeded: Series, failed: Series }),
  token_rejections: Type.Array(Type.Object({ reason: Type.String(), counts: Series })),
  scope_denials: Series,
  rate_limit_hits: Series,
  top_clients: Type.Array(TopEntry),
  top_tenants: Type.Array(TopEntry),
  counted_since: Type.String({ format: 'date-time' })
})

/** The feed filter a query asks for; `now` anchors its time window. */
export function filterOf (query: FilterQueryType, now: number): FeedFilter {
  const filter: FeedFilter = {}
  if (query.event !== undefined && query.event !== '') filter.event = query.event
  if (query.oid !== undefined && query.oid !== '') filter.oid = query.oid
  if (query.client !== undefined && query.client !== '') filter.client_id = query.client
  if (query.outcome !== undefined && query.outcome !== '') filter.outcome = query.outcome
  if (query.window !== undefined && query.window !== '') filter.since = now - FEED_WINDOWS[query.window]
  return filter
}

/** An event as the API and the live stream give it. */
export function eventItem (e: FeedEvent): EventItemType {
  const { at, line, ...rest } = e
  return { ...rest, time: new Date(at).toISOString(), line: line as Record<string, unknown> }
}
