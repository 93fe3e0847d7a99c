import fp from 'fastify-plugin'
import { request as httpRequest } from 'undici'
import type { CheckResult } from '../../readiness.ts'

const FETCH_TIMEOUT_MS = 1000
/** A successful fetch is trusted this long before the probe asks again. */
const FRESH_MS = 5 * 60 * 1000
/** While Entra's metadata cannot be fetched, a success this recent still counts (cached keys keep working). */
const STALE_OK_MS = 60 * 60 * 1000

export interface MetadataProbeOptions {
  fetchMetadata: () => Promise<unknown>
  now?: () => number
}

/**
 * Readiness of the upstream identity provider: its OpenID metadata is reachable, or was
 * fetched recently enough that sign-ins and key lookups keep working from cache.
 */
export function createMetadataProbe ({ fetchMetadata, now = Date.now }: MetadataProbeOptions): () => Promise<CheckResult> {
  let lastSuccess = 0
  return async function probe () {
    const age = now() - lastSuccess
    if (lastSuccess !== 0 && age < FRESH_MS) return { ok: true, detail: 'reachable (cached)' }
    try {
      const metadata = await fetchMetadata() as Record<string, unknown>
      for (const field of ['authorization_endpoint', 'token_endpoint', 'jwks_uri']) {
        if (typeof metadata?.[field] !== 'string') throw new Error(`metadata has no ${field}`)
      }
      lastSuccess = now()
      return { ok: true, detail: 'reachable' }
    } catch (err) {
      if (lastSuccess !== 0 && age < STALE_OK_MS) {
        return { ok: true, detail: `last fetch failed (${(err as Error).message}); using metadata fetched ${Math.round(age / 1000)} s ago` }
      }
      return { ok: false, detail: `metadata not reachable: ${(err as Error).message}` }
    }
  }
}

export default fp(async function upstreamMetadata (fastify) {
  const { config } = fastify
  if (config.devIdentityProvider) {
    // The development provider runs in this process: it is up when the process is. Asking it
    // over HTTP would depend on MCP_BASE_URL being reachable from inside a container.
    fastify.readinessChecks.set('upstream_metadata', async () => {
      const expected = config.entra.issuerFor(config.entra.tenant)
      return fastify.devIdentityProvider?.issuer === expected
        ? { ok: true, detail: 'in-process development provider' }
        : { ok: false, detail: 'development provider not mounted' }
    })
    return
  }
  const fetchMetadata = async () => {
    const res = await httpRequest(config.entra.metadataUrl, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) })
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new Error(`HTTP ${res.statusCode}`)
    }
    return await res.body.json()
  }
  fastify.readinessChecks.set('upstream_metadata', createMetadataProbe({ fetchMetadata }))
}, { name: 'upstream-metadata', dependencies: ['config', 'readiness'] })
