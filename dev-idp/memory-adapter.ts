import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider'

// In-memory storage for one development identity provider instance (sessions, interactions, codes, grants,
// refresh tokens). Its state is lost on restart, which is fine for a development stand-in; entries expire
// with the lifetime oidc-provider gives them, and expired ones are swept as new ones arrive.

interface Entry { payload: AdapterPayload, expiresAt?: number }

const SWEEP_EVERY = 500

/** The entries of every model, with the indexes oidc-provider looks them up by. */
class Entries {
  readonly #now: () => number
  readonly #entries = new Map<string, Entry>()
  readonly #byUid = new Map<string, string>()
  readonly #byUserCode = new Map<string, string>()
  readonly #byGrant = new Map<string, Set<string>>()
  #writes = 0

  constructor (now: () => number) {
    this.#now = now
  }

  alive (key: string): AdapterPayload | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAt !== undefined && entry.expiresAt <= this.#now()) {
      this.#entries.delete(key)
      return undefined
    }
    return entry.payload
  }

  /** A copy of the live entry at `key`, so callers never change what is stored. */
  copyOf (key: string | undefined): AdapterPayload | undefined {
    const payload = key === undefined ? undefined : this.alive(key)
    return payload === undefined ? undefined : structuredClone(payload)
  }

  keyOfUid (uid: string): string | undefined { return this.#byUid.get(uid) }
  keyOfUserCode (userCode: string): string | undefined { return this.#byUserCode.get(userCode) }

  set (k: string, payload: AdapterPayload, expiresIn: number | undefined): void {
    if (++this.#writes % SWEEP_EVERY === 0) this.#sweep()
    this.#entries.set(k, { payload: structuredClone(payload), expiresAt: expiresIn !== undefined ? this.#now() + expiresIn * 1000 : undefined })
    if (typeof payload.uid === 'string') this.#byUid.set(payload.uid, k)
    if (typeof payload.userCode === 'string') this.#byUserCode.set(payload.userCode, k)
    if (typeof payload.grantId === 'string') {
      const keys = this.#byGrant.get(payload.grantId) ?? new Set<string>()
      keys.add(k)
      this.#byGrant.set(payload.grantId, keys)
    }
  }

  consume (k: string): void {
    const payload = this.alive(k)
    if (payload !== undefined) payload.consumed = Math.floor(this.#now() / 1000)
  }

  delete (k: string): void {
    this.#entries.delete(k)
  }

  deleteGrant (grantId: string): void {
    for (const k of this.#byGrant.get(grantId) ?? []) this.#entries.delete(k)
    this.#byGrant.delete(grantId)
  }

  #sweep (): void {
    const t = this.#now()
    for (const [key, entry] of this.#entries) if (entry.expiresAt !== undefined && entry.expiresAt <= t) this.#entries.delete(key)
    for (const index of [this.#byUid, this.#byUserCode]) {
      for (const [k, v] of index) if (!this.#entries.has(v)) index.delete(k)
    }
    for (const [grantId, keys] of this.#byGrant) {
      for (const k of keys) if (!this.#entries.has(k)) keys.delete(k)
      if (keys.size === 0) this.#byGrant.delete(grantId)
    }
  }
}

export function memoryAdapter (now: () => number = Date.now): AdapterFactory {
  const entries = new Entries(now)
  return (name: string): Adapter => {
    const key = (id: string) => `${name}:${id}`
    return {
      async upsert (id, payload, expiresIn) { entries.set(key(id), payload, expiresIn) },
      async find (id) { return entries.copyOf(key(id)) },
      async findByUid (uid) { return entries.copyOf(entries.keyOfUid(uid)) },
      async findByUserCode (userCode) { return entries.copyOf(entries.keyOfUserCode(userCode)) },
      async consume (id) { entries.consume(key(id)) },
      async destroy (id) { entries.delete(key(id)) },
      async revokeByGrantId (grantId) { entries.deleteGrant(grantId) }
    }
  }
}
