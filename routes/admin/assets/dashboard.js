/* global Chart, EventSource, document, window, fetch */
// The audit dashboard's script (served from /admin/assets, CSP script-src 'self'): the live feed
// over server-sent events and the charts. Everything shown is set with textContent, never as HTML.
'use strict'
;(function () {
  const root = document.getElementById('dashboard')
  if (root === null) return
  const MAX_ROWS = 200
  const CHARTED = ['login.succeeded', 'login.failed', 'token.rejected', 'scope.denied', 'rate_limit.exceeded']
  const COLORS = ['#0f6cbd', '#c50f1f', '#8a3ffc', '#e3780c', '#107c10', '#5c2e91', '#038387', '#986f0b']
  const rows = document.getElementById('feed-rows')
  const status = document.getElementById('feed-status')
  const charts = {}

  function setStatus (text, kind) {
    status.textContent = text
    status.className = 'status status-' + kind
  }

  function cell (text, className) {
    const td = document.createElement('td')
    td.textContent = text === undefined || text === null ? '' : String(text)
    td.title = td.textContent
    if (className) td.className = className
    return td
  }

  function detailOf (e) {
    const line = e.line || {}
    const parts = []
    if (e.reason) parts.push(e.reason)
    for (const key of ['family', 'tool', 'flow', 'scopes', 'missing']) {
      if (line[key] !== undefined) parts.push(key + ': ' + (Array.isArray(line[key]) ? line[key].join(' ') : String(line[key])))
    }
    return parts.join('; ')
  }

  function addRow (e) {
    const tr = document.createElement('tr')
    tr.className = 'row-' + e.outcome
    tr.dataset.event = e.event
    tr.append(cell(new Date(e.time).toLocaleTimeString()), cell(e.event, 'event'), cell(e.outcome, 'outcome'),
      cell(e.oid, 'id'), cell(e.tid, 'id'), cell(e.client_id, 'id'), cell(detailOf(e)))
    rows.prepend(tr)
    while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove()
  }

  // Bars: counts per bucket are sparse, and a bar shows one event where a line hides it.
  function barChart (id, labels, datasets, stacked) {
    const existing = charts[id]
    if (existing) {
      existing.data.labels = labels
      existing.data.datasets = datasets
      existing.update()
      return
    }
    charts[id] = new Chart(document.getElementById(id), {
      type: 'bar',
      data: { labels, datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } } },
        scales: { x: { stacked, ticks: { maxTicksLimit: 8 } }, y: { stacked, beginAtZero: true, ticks: { precision: 0 } } }
      }
    })
  }

  const series = (label, data, color) => ({ label, data, backgroundColor: color, borderColor: color, borderWidth: 0, maxBarThickness: 14, categoryPercentage: 0.9, barPercentage: 1 })

  function topTable (id, entries) {
    const body = document.querySelector('#' + id + ' tbody')
    body.replaceChildren()
    if (entries.length === 0) {
      const tr = document.createElement('tr')
      const td = cell('nothing in this window', 'muted')
      td.colSpan = 6
      tr.append(td)
      body.append(tr)
    }
    for (const t of entries) {
      const tr = document.createElement('tr')
      tr.append(cell(t.id, 'id'), cell(t.sign_ins_succeeded, 'num'), cell(t.sign_ins_failed, 'num'), cell(t.token_rejections, 'num'), cell(t.scope_denials, 'num'), cell(t.rate_limit_hits, 'num'))
      body.append(tr)
    }
  }

  function draw (s) {
    const labels = s.buckets.map(b => new Date(b).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }))
    barChart('chart-sign-ins', labels, [series('succeeded', s.sign_ins.succeeded, COLORS[4]), series('failed', s.sign_ins.failed, COLORS[1])], false)
    const reasons = s.token_rejections.length === 0 ? [{ reason: 'none', counts: s.buckets.map(() => 0) }] : s.token_rejections
    barChart('chart-rejections', labels, reasons.map((r, i) => series(r.reason, r.counts, COLORS[(i + 2) % COLORS.length])), true)
    barChart('chart-denials', labels, [series('scope denials', s.scope_denials, COLORS[3]), series('rate-limit hits', s.rate_limit_hits, COLORS[0])], true)
    topTable('top-clients', s.top_clients)
    topTable('top-tenants', s.top_tenants)
    root.dataset.summaryAt = s.to
  }

  let pending = null
  function refreshSummary () {
    pending = null
    fetch(root.dataset.summary, { headers: { accept: 'application/json' }, credentials: 'same-origin' })
      .then(res => { if (!res.ok) throw new Error('summary: ' + res.status); return res.json() })
      .then(draw)
      .catch(() => setStatus('charts unavailable (signed out?)', 'warn'))
  }
  // A charted event redraws the charts soon, at most once a second.
  function summarySoon () {
    if (pending === null) pending = window.setTimeout(refreshSummary, 1000)
  }

  const source = new EventSource(root.dataset.events)
  source.addEventListener('open', () => setStatus('live', 'ok'))
  source.addEventListener('error', () => setStatus(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting', 'warn'))
  source.addEventListener('audit', message => {
    const e = JSON.parse(message.data)
    addRow(e)
    if (CHARTED.includes(e.event)) summarySoon()
  })
  refreshSummary()
  window.setInterval(refreshSummary, 60000)
})()
