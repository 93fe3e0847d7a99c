// The approximate number of active grants, read from the grants model when scraped.
import { Gauge, type Registry } from 'prom-client'
import { PREFIX } from './registry.ts'

export type CountActiveGrants = () => Promise<number>

/**
 * `emg_active_grants`, whose value is `count()` at each scrape. Without a count function the gauge
 * is not registered at all: absent from the exposition ("not reported"), rather than a false 0.
 * A count that fails leaves the last value (the store's readiness check tells the outage).
 */
export function registerActiveGrants (registry: Registry, count: CountActiveGrants | undefined): Gauge | undefined {
  if (count === undefined) return undefined
  return new Gauge({
    name: `${PREFIX}active_grants`,
    help: 'Grants (signed-in user and client pairs) not expired nor revoked, approximate',
    registers: [registry],
    async collect () {
      try { this.set(await count()) } catch { /* keep the last value */ }
    }
  })
}
