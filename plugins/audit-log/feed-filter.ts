import type { FeedEvent } from './feed-event.ts'

/** What the feed may be narrowed to. Every string is bounded by the routes' schemas (FILTER_LIMITS). */
export interface FeedFilter {
  /** An event name (`login.failed`) or a family (`login.*`). */
  event?: string
  /** The user (Entra object id). */
  oid?: string
  client_id?: string
  outcome?: 'success' | 'failure' | 'denied'
  /** Epoch ms: events at or after. */
  since?: number
}

export const FILTER_LIMITS = { event: 64, oid: 64, client_id: 512 } as const
export const OUTCOMES = ['success', 'failure', 'denied'] as const

/** Time windows the feed and its API accept, in ms. */
export const FEED_WINDOWS = { '15m': 900_000, '1h': 3_600_000, '6h': 21_600_000, '24h': 86_400_000 } as const
export type FeedWindow = keyof typeof FEED_WINDOWS

export function matches (e: FeedEvent, filter: FeedFilter): boolean {
  if (filter.since !== undefined && e.at < filter.since) return false
  if (filter.event !== undefined && !eventMatches(e.event, filter.event)) return false
  if (filter.oid !== undefined && e.oid !== filter.oid) return false
  if (filter.client_id !== undefined && e.client_id !== filter.client_id) return false
  if (filter.outcome !== undefined && e.outcome !== filter.outcome) return false
  return true
}

function eventMatches (name: string, wanted: string): boolean {
  return wanted.endsWith('.*') ? name.startsWith(wanted.slice(0, -1)) : name === wanted
}
