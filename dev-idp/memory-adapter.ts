import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider'

// In-memory storage for one development identity provider instance (sessions, interactions, codes, grants,
// refresh tokens). Its state is lost on restart, which is fine for a development stand-in; entries expire
// with the lifetime oidc-provider gives them, and expired ones are swept as new ones arrive.

interface Entry { payload: AdapterPayload, expiresAt?: number }

const SWEEP_EVERY = 500

export function memoryAdapter (now: () => number = Date.now): AdapterFactory {
  const entries = new Map<string, Entry>()
  const byUid = new Map<string, string>()
  const byUserCode = new Map<string, string>()
  const byGrant = new Map<string, Set<string>>()
  let writes = 0

  const alive = (key: string): AdapterPayload | undefined => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== undefined && entry.expiresAt <= now()) {
      entries.delete(key)
      return undefined
    }
    return entry.payload
  }

  /** A copy of the live entry at `key`, so callers never change what is stored. */
  const copyOf = (key: string | undefined): AdapterPayload | undefined => {
    const payload = key === undefined ? undefined : alive(key)
    return payload === undefined ? undefined : structuredClone(payload)
  }

  const sweep = (): void => {
    const t = now()
    for (const [key, entry] of entries) if (entry.expiresAt !== undefined && entry.expiresAt <= t) entries.delete(key)
    for (const index of [byUid, byUserCode]) {
      for (const [k, v] of index) if (!entries.has(v)) index.delete(k)
    }
    for (const [grantId, keys] of byGrant) {
      for (const k of keys) if (!entries.has(k)) keys.delete(k)
      if (keys.size === 0) byGrant.delete(grantId)
    }
  }

  return (name: string): Adapter => {
    const key = (id: string) => `${name}:${id}`
    return {
      async upsert (id, payload, expiresIn) {
        if (++writes % SWEEP_EVERY === 0) sweep()
        const k = key(id)
        entries.set(k, { payload: structuredClone(payload), expiresAt: expiresIn !== undefined ? now() + expiresIn * 1000 : undefined })
        if (typeof payload.uid === 'string') byUid.set(payload.uid, k)
        if (typeof payload.userCode === 'string') byUserCode.set(payload.userCode, k)
        if (typeof payload.grantId === 'string') {
          const keys = byGrant.get(payload.grantId) ?? new Set<string>()
          keys.add(k)
          byGrant.set(payload.grantId, keys)
        }
      },
      async find (id) {
        return copyOf(key(id))
      },
      async findByUid (uid) {
        return copyOf(byUid.get(uid))
      },
      async findByUserCode (userCode) {
        return copyOf(byUserCode.get(userCode))
      },
      async consume (id) {
        const payload = alive(key(id))
        if (payload !== undefined) payload.consumed = Math.floor(now() / 1000)
      },
      async destroy (id) {
        entries.delete(key(id))
      },
      async revokeByGrantId (grantId) {
        for (const k of byGrant.get(grantId) ?? []) entries.delete(k)
        byGrant.delete(grantId)
      }
    }
  }
}
