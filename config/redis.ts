import { isLoopbackHost } from '../plugins/shared/redirect-uris.ts'
import type { Checked, Reading } from './checks.ts'
import type { RedisEntraAuth } from './index.ts'

// Checks of the Redis settings. REDIS_AUTH=entra: the store signs in to Redis with a Microsoft Entra token of a managed identity
// instead of an access key. These checks refuse the settings that would send a token in clear or
// mix it with a password, and choose the credential.

// The gateway's own app registration: DefaultAzureCredential would read these very names
// (EnvironmentCredential, and AZURE_CLIENT_ID as a user-assigned identity) and sign in to Redis as the app.
const APP_CREDENTIAL_NAMES = ['AZURE_CLIENT_ID', 'AZURE_CLIENT_SECRET', 'AZURE_CLIENT_CERTIFICATE_PATH']

function urlProblems (url: URL): string[] {
  const problems: string[] = []
  if (url.username !== '' || url.password !== '') {
    problems.push('REDIS_URL must not carry a user name or password with REDIS_AUTH=entra: the user is the managed identity\'s object id and the password its token (remove the access key from the URL)')
  }
  // Azure accepts Entra tokens over TLS only, and a token sent in clear can be replayed until it expires.
  if (url.protocol !== 'rediss:' && !isLoopbackHost(url.hostname)) {
    problems.push('REDIS_URL must be rediss:// (TLS) with REDIS_AUTH=entra: a Microsoft Entra token must not cross the network in clear (plain redis:// is only allowed on a loopback host)')
  }
  return problems
}

/** REDIS_AUTH, AZURE_REDIS_CLIENT_ID and what they require of REDIS_URL. */
export function checkRedisAuth (r: Reading): Checked<RedisEntraAuth | undefined> {
  const clientId = r.refused.has('AZURE_REDIS_CLIENT_ID') ? undefined : r.env.AZURE_REDIS_CLIENT_ID
  if (r.refused.has('REDIS_AUTH') || r.env.REDIS_AUTH !== 'entra') {
    const problems = r.raw.AZURE_REDIS_CLIENT_ID !== undefined ? ['AZURE_REDIS_CLIENT_ID is only used with REDIS_AUTH=entra (Microsoft Entra authentication to Redis); set both or neither'] : []
    return { problems, value: undefined }
  }
  if (r.raw.REDIS_URL === undefined) {
    return { problems: r.unresolved.has('REDIS_URL') ? [] : ['REDIS_AUTH=entra needs REDIS_URL, e.g. rediss://<name>.<region>.redis.azure.net:10000 for Azure Managed Redis'], value: undefined }
  }
  const problems = r.refused.has('REDIS_URL') || !URL.canParse(r.raw.REDIS_URL)
    ? []
    : urlProblems(new URL(r.raw.REDIS_URL))
  const appCredentials = APP_CREDENTIAL_NAMES.some(name => r.raw[name] !== undefined || r.unresolved.has(name))
  const value: RedisEntraAuth = clientId !== undefined
    ? { credential: 'managed-identity', clientId }
    : { credential: appCredentials ? 'managed-identity' : 'default' }
  return { problems, value }
}

/** The audit stream lives in the store's Redis. */
export function checkAuditStore (r: Reading): string[] {
  if (r.raw.REDIS_URL !== undefined) return []
  const needs = (name: string, why: string) => `${name} needs REDIS_URL: ${why}`
  return [...(r.raw.AUDIT_REDIS_STREAM === undefined ? [] : [needs('AUDIT_REDIS_STREAM', 'the audit stream is written to the store\'s Redis')]),
    ...(r.env.REDIS_CLUSTER !== true ? [] : [needs('REDIS_CLUSTER=true', 'one node of the cluster (the others are discovered from it)')])]
}
