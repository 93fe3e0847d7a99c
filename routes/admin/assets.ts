import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyPluginAsync } from 'fastify'
import { Type } from '@fastify/type-provider-typebox'

// The admin area's static files, served by the service itself (no CDN; the pages' CSP allows
// 'self' only): Chart.js from node_modules with its licence, and our own script and style sheet.
// Read once at start. Names carry a hash of the content, so a year's cache is safe.

interface Asset { body: Buffer, type: string, cache: string }

const IMMUTABLE = 'public, max-age=31536000, immutable'
const here = dirname(fileURLToPath(import.meta.url))
// chart.js resolves (its `require` export) to dist/chart.cjs; the UMD build and the licence are beside it.
const chartDist = dirname(createRequire(import.meta.url).resolve('chart.js'))

const hashed = (name: string, body: Buffer) => {
  const dot = name.lastIndexOf('.')
  return `${name.slice(0, dot)}.${createHash('sha256').update(body).digest('hex').slice(0, 12)}${name.slice(dot)}`
}

function load (): { byUrlName: Map<string, Asset>, urls: Record<string, string> } {
  // The source map comment is dropped: the map is not served.
  const chart = Buffer.from(readFileSync(join(chartDist, 'chart.umd.min.js'), 'utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'))
  const files: Array<[name: string, body: Buffer, type: string]> = [
    ['chart.umd.min.js', chart, 'text/javascript; charset=utf-8'],
    ['dashboard.js', readFileSync(join(here, 'assets', 'dashboard.js')), 'text/javascript; charset=utf-8'],
    ['admin.css', readFileSync(join(here, 'assets', 'admin.css')), 'text/css; charset=utf-8']
  ]
  const byUrlName = new Map<string, Asset>()
  const urls: Record<string, string> = {}
  for (const [name, body, type] of files) {
    const urlName = hashed(name, body)
    byUrlName.set(urlName, { body, type, cache: IMMUTABLE })
    urls[name] = `/admin/assets/${urlName}`
  }
  // The licence keeps a stable name (the page links it); a day's cache.
  byUrlName.set('chart.js-LICENSE.txt', { body: readFileSync(join(chartDist, '..', 'LICENSE.md')), type: 'text/plain; charset=utf-8', cache: 'public, max-age=86400' })
  urls['chart.js-LICENSE.txt'] = '/admin/assets/chart.js-LICENSE.txt'
  return { byUrlName, urls }
}

const loaded = load()

/** The URL of an asset by its file name (`dashboard.js`, `admin.css`, `chart.umd.min.js`, `chart.js-LICENSE.txt`). */
export function assetUrl (name: 'dashboard.js' | 'admin.css' | 'chart.umd.min.js' | 'chart.js-LICENSE.txt'): string {
  return loaded.urls[name]
}

/** GET /admin/assets/<name>: public (no secrets in them), so no guard; nosniff is on every answer. */
const adminAssets: FastifyPluginAsync = async function (fastify) {
  fastify.get('/admin/assets/:file', {
    schema: { params: Type.Object({ file: Type.String({ maxLength: 80 }) }) }
  }, async (request, reply) => {
    const asset = loaded.byUrlName.get((request.params as { file: string }).file)
    if (asset === undefined) return reply.code(404).send({ error: 'not_found', error_description: 'No such asset' })
    return reply.header('content-type', asset.type).header('cache-control', asset.cache).send(asset.body)
  })
}

export default adminAssets
