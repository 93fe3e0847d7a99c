import { publicConfig, type Config } from '../../config/index.ts'
import type { AuditFields } from './events.ts'

/** The fields of `config.loaded`: the public configuration, the rate limits, the audit stream, whether /metrics is on. */
export function configLoadedFields (config: Config, storeKind: string): AuditFields {
  const { enabled, failOpen, ...rules } = config.rateLimit
  const streamName = config.audit.redisStream
  return {
    config: publicConfig(config, storeKind),
    rate_limit: {
      enabled,
      fail_open: failOpen,
      // named as the variables that set them (a field called `token` would be masked as a secret)
      rules: Object.fromEntries(Object.entries(rules).map(([name, r]) => [`RATE_LIMIT_${name.replace(/[A-Z]/g, c => `_${c}`).toUpperCase()}`, `${r.max}/${r.windowSeconds}`]))
    },
    audit_stream: streamName !== undefined ? { name: streamName, max_len: config.audit.streamMaxLen } : null,
    // whether METRICS_TOKEN is set; never the token
    metrics: config.metrics.token !== undefined
  }
}
