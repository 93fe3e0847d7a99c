import { AUDIT_EVENTS } from '../../plugins/audit-log/events.ts'
import { FEED_WINDOWS, OUTCOMES } from '../../plugins/audit-log/feed-filter.ts'
import { escapeHtml } from '../../plugins/shared/html.ts'
import { assetUrl } from './assets.ts'
import type { FilterQueryType } from './dashboard-schemas.ts'

// The dashboard page's body (wrapped by routes/admin/layout.ts's adminPage): the filters form, the
// live feed table and the charts.
// Everything it shows comes from the query (escaped here) or from dashboard.js (textContent only).

/** The dashboard's scripts, Chart.js first (its styles are in the admin area's one sheet). */
export const DASHBOARD_SCRIPTS = [assetUrl('chart.umd.min.js'), assetUrl('dashboard.js')]

export interface DashboardView {
  query: FilterQueryType
  chart: '1h' | '24h'
  /** Where the feed comes from: every instance (the Redis stream) or this one. */
  source: 'memory' | 'redis-stream'
}

const option = (value: string, label: string, selected: string | undefined) =>
  `<option value="${escapeHtml(value)}"${value === (selected ?? '') ? ' selected' : ''}>${escapeHtml(label)}</option>`

function eventOptions (selected: string | undefined): string {
  const families = [...new Set(AUDIT_EVENTS.map(e => e.split('.')[0]))]
  return [
    option('', 'all events', selected),
    ...families.map(f => option(`${f}.*`, `${f}.*`, selected)),
    ...AUDIT_EVENTS.map(e => option(e, e, selected))
  ].join('')
}

function filtersForm (view: DashboardView): string {
  const q = view.query
  const windows = Object.keys(FEED_WINDOWS).map(w => option(w, `last ${w}`, q.window)).join('')
  return `<form id="filters" class="filters" method="get" action="/admin">
<label>Event <select name="event" id="filter-event">${eventOptions(q.event)}</select></label>
<label>User (oid) <input name="oid" id="filter-oid" maxlength="64" value="${escapeHtml(q.oid ?? '')}" autocomplete="off"></label>
<label>Client <input name="client" id="filter-client" maxlength="512" value="${escapeHtml(q.client ?? '')}" autocomplete="off"></label>
<label>Outcome <select name="outcome" id="filter-outcome">${option('', 'any', q.outcome)}${OUTCOMES.map(o => option(o, o, q.outcome)).join('')}</select></label>
<label>History <select name="window" id="filter-window">${option('', 'latest', q.window)}${windows}</select></label>
<label>Charts <select name="chart" id="filter-chart">${option('1h', 'last hour', view.chart)}${option('24h', 'last 24 hours', view.chart)}</select></label>
<button type="submit">Apply</button> <a href="/admin">Clear</a>
</form>`
}

const params = (entries: Record<string, string | undefined>) => new URLSearchParams(Object.entries(entries).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')).toString()

/** The page body: filters, the live feed, the charts. dashboard.js reads its data-* attributes. */
export function dashboardBody (view: DashboardView): string {
  const q = view.query
  const feedQuery = params({ event: q.event, oid: q.oid, client: q.client, outcome: q.outcome, window: q.window })
  const source = view.source === 'redis-stream' ? 'every instance (Redis stream)' : 'this instance only (no AUDIT_REDIS_STREAM)'
  return `<section id="dashboard" data-events="${escapeHtml(`/admin/events${feedQuery === '' ? '' : `?${feedQuery}`}`)}" data-summary="${escapeHtml(`/admin/summary?window=${view.chart}`)}">
<h1>Audit dashboard</h1>
<p class="muted">Events of ${escapeHtml(source)}. Status: <span id="feed-status" class="status">connecting</span></p>
${filtersForm(view)}
<h2>Charts <span class="muted">(${view.chart === '1h' ? 'last hour, per minute' : 'last 24 hours, per 15 minutes'}; every event: the filters apply to the feed)</span></h2>
<div class="charts">
<figure><figcaption>Sign-ins</figcaption><div class="chart-box"><canvas id="chart-sign-ins" aria-label="Sign-ins succeeded and failed"></canvas></div></figure>
<figure><figcaption>Token rejections by reason</figcaption><div class="chart-box"><canvas id="chart-rejections" aria-label="Token rejections by reason"></canvas></div></figure>
<figure><figcaption>Scope denials and rate-limit hits</figcaption><div class="chart-box"><canvas id="chart-denials" aria-label="Scope denials and rate-limit hits"></canvas></div></figure>
</div>
<div class="tops">
<figure><figcaption>Top clients</figcaption><table id="top-clients" class="top"><thead><tr><th>Client</th><th>Signed in</th><th>Failed</th><th>Rejected</th><th>Scope</th><th>Limited</th></tr></thead><tbody></tbody></table></figure>
<figure><figcaption>Top tenants</figcaption><table id="top-tenants" class="top"><thead><tr><th>Tenant</th><th>Signed in</th><th>Failed</th><th>Rejected</th><th>Scope</th><th>Limited</th></tr></thead><tbody></tbody></table></figure>
</div>
<h2>Live feed</h2>
<table id="feed" class="feed"><thead><tr><th>Time</th><th>Event</th><th>Outcome</th><th>User</th><th>Tenant</th><th>Client</th><th>Detail</th></tr></thead><tbody id="feed-rows"></tbody></table>
<p class="muted">Charts drawn with <a href="${assetUrl('chart.js-LICENSE.txt')}">Chart.js (MIT licence)</a>, served by this service.</p>
</section>`
}
