import type { Store } from '../../store/contract.ts'
import { CONSENT_INDEX_KEY, consentRecordKey, grantKey } from '../../store/keys.ts'
import type { ClientRecord } from '../clients/metadata.ts'
import type { GrantScope } from './grant-index.ts'
import type { GrantStore } from './model.ts'
import type { Grant } from './records.ts'

// What administrators see and do with grants, clients and consents (issue #17; the /admin routes
// call these and audit `admin.*` with what they return). Listings carry ids and display fields
// only: never a token, a refresh token, a hash, a secret or Entra's sealed tokens.

/** What the client registry offers the admin (plugins/oauth-proxy/clients/registry.ts). */
export interface ClientDirectory {
  /** A registered client, or a metadata document's client if cached; never fetches. */
  known (clientId: string): Promise<ClientRecord | null>
  /** Registered (DCR) clients, the newest first. */
  registered (limit: number): Promise<ClientRecord[]>
  /** Deletes a registration and any cached metadata document; true when a registration was there. */
  remove (clientId: string): Promise<boolean>
}

/** One active grant: one sign-in of one user with one client. Times in epoch seconds. */
export interface GrantSummary {
  sid: string
  user: { oid?: string, tid?: string, name?: string, username?: string }
  clientId: string
  clientName?: string
  scopes: string[]
  createdAt: number
  /** Its last refresh (or renewal of its Entra tokens); absent when none since the sign-in. */
  refreshedAt?: number
  /** When it ends unless refreshed before. */
  expiresAt: number
}

export interface ClientSummary {
  clientId: string
  name?: string
  /** `metadata_document`: an https client id (CIMD); listed while it has grants. */
  source: 'registered' | 'metadata_document'
  authMethod?: string
  redirectUris: string[]
  grantTypes: string[]
  /** Registration time (registered clients). */
  registeredAt?: number
  activeGrants: number
}

/** A remembered approval of one browser (its consent session, by hash) for one client. */
export interface ConsentSummary {
  id: string
  clientId: string
  clientName?: string
  scopes: string[]
  expiresAt: number
}

export interface ClientDeletion {
  clientId: string
  /** A registration was there and is gone. */
  registration: boolean
  grants: GrantSummary[]
  consents: ConsentSummary[]
}

export interface ListOptions {
  /** 1 to MAX_LIST (default 100). */
  limit?: number
}

export const MAX_LIST = 1000
/** Grants revoked per round when revoking a user's or a client's, and the most rounds (bounds the work). */
const BATCH = 100
const MAX_ROUNDS = 100
/** How many consents a client's deletion looks through. */
const CONSENT_SCAN = 10000
/**
 * An index member whose record is missing is only forgotten when written longer ago than this:
 * the index is written just before the record, and forgetting a grant in between would hide it
 * from the revocation of its user.
 */
const WRITE_WINDOW = 60

const SID = /^[A-Za-z0-9_-]{1,100}$/
const CONSENT_ID = /^[A-Za-z0-9_-]{43}$/

const limitOf = (opts: ListOptions) => {
  const limit = Math.floor(opts.limit ?? 100)
  return Number.isFinite(limit) ? Math.min(Math.max(limit, 1), MAX_LIST) : 100
}

function parsed<T> (value: string | null): T | null {
  return value === null ? null : JSON.parse(value) as T
}

export class GrantAdmin {
  private readonly grants: GrantStore
  private readonly store: Store
  private readonly clients: ClientDirectory
  private readonly now: () => number
  private readonly consentTtl: number

  constructor (opts: { grants: GrantStore, store: Store, clients?: ClientDirectory, now: () => number, consentTtl: number }) {
    this.grants = opts.grants
    this.store = opts.store
    this.clients = opts.clients ?? { known: async () => null, registered: async () => [], remove: async () => false }
    this.now = opts.now
    this.consentTtl = opts.consentTtl
  }

  /** Active grants, the most recently active first; of one user (tenant and object id) or client when asked. */
  async listGrants (opts: ListOptions & { user?: { tid: string, oid: string }, clientId?: string } = {}): Promise<GrantSummary[]> {
    const scope: GrantScope = opts.user !== undefined ? { user: opts.user } : opts.clientId !== undefined ? { clientId: opts.clientId } : {}
    return await this.summaries(await this.activeGrants(scope, limitOf(opts)))
  }

  /** Approximate number of active grants (for a metrics gauge): one count, no record read. */
  async countActiveGrants (): Promise<number> {
    return await this.grants.index.count()
  }

  /**
   * Revokes one grant (the summary's `expiresAt` is now): every access token of it is refused at once on every instance (the deny
   * entry read on each /mcp request), its refresh tokens find no grant. Null: no such grant now.
   */
  async revokeGrant (sid: string): Promise<GrantSummary | null> {
    if (!SID.test(sid)) return null
    const grant = await this.grants.revoke(sid, 'revoked_by_admin')
    return grant === null ? null : (await this.summaries([{ grant, score: this.now() }]))[0]
  }

  /** Revokes every grant of a user (one tenant's object id: the same oid in another tenant is another user). */
  async revokeUser (user: { tid: string, oid: string }): Promise<GrantSummary[]> {
    const revoked = await this.revokeAll({ user }, grant => grant.user.tid === user.tid && grant.user.oid === user.oid)
    return await this.summaries(revoked.map(grant => ({ grant, score: this.now() })))
  }

  /** Registered clients (newest first), then the metadata-document clients that have grants. */
  async listClients (opts: ListOptions = {}): Promise<ClientSummary[]> {
    const limit = limitOf(opts)
    const registered = await this.clients.registered(limit)
    const seen = new Set(registered.map(c => c.client_id))
    const others = (await this.grants.index.clients(limit)).map(e => e.member).filter(id => !seen.has(id))
    const records = await Promise.all(others.map(async id => await this.clients.known(id) ?? id))
    const all = [...registered, ...records].slice(0, limit)
    return await Promise.all(all.map(async client => await this.clientSummary(client)))
  }

  /**
   * Deletes a client: its registration first (it can no longer authenticate or redeem), then every
   * grant of it (revoked as revokeGrant does) and the consents remembered for it. A metadata-document
   * client's cached document goes too; the client can sign in again, as anyone could with its URL.
   */
  async deleteClient (clientId: string): Promise<ClientDeletion> {
    const registration = await this.clients.remove(clientId)
    const grants = await this.revokeAll({ clientId }, grant => grant.clientId === clientId)
    await this.grants.index.forgetClient(clientId)
    const consents = (await this.consentEntries(CONSENT_SCAN)).filter(c => c.clientId === clientId)
    for (const consent of consents) await this.removeConsent(consent)
    return { clientId, registration, grants: await this.summaries(grants.map(grant => ({ grant, score: this.now() }))), consents }
  }

  /** Remembered consents, those ending last first; of one client when asked. */
  async listConsents (opts: ListOptions & { clientId?: string } = {}): Promise<ConsentSummary[]> {
    const limit = limitOf(opts)
    const entries = await this.consentEntries(opts.clientId === undefined ? limit : CONSENT_SCAN)
    const chosen = entries.filter(c => opts.clientId === undefined || c.clientId === opts.clientId).slice(0, limit)
    const names = await this.clientNames(chosen.map(c => c.clientId))
    return chosen.map(c => ({ ...c, clientName: names.get(c.clientId) }))
  }

  /** Forgets one browser's approval for a client (its next sign-in with it asks again); `expiresAt` is now. */
  async deleteConsent (id: string, clientId: string): Promise<ConsentSummary | null> {
    if (!CONSENT_ID.test(id)) return null
    const scopes = parsed<string[]>(await this.store.get(consentRecordKey(id, clientId)))
    if (scopes === null) return null
    const consent = { id, clientId, scopes, expiresAt: this.now() }
    await this.removeConsent(consent)
    return consent
  }

  /** Grants in the index with their records, dropping members whose record is gone. */
  private async activeGrants (scope: GrantScope, limit: number): Promise<Array<{ grant: Grant, score: number }>> {
    const { index } = this.grants
    for (let round = 0; ; round++) {
      const entries = await index.range(scope, limit)
      const records = await this.store.getMany(entries.map(e => grantKey(e.member)))
      const found = entries.flatMap((e, i) => records[i] === null ? [] : [{ grant: parsed<Grant>(records[i]) as Grant, score: e.score }])
      const gone = entries.filter((e, i) => records[i] === null && index.activeAt(e.score) < this.now() - WRITE_WINDOW)
      if (gone.length === 0 || round === 2) return found
      await index.forget(scope, gone.map(e => e.member))
    }
  }

  /** Revokes the grants an index names, batch by batch until it is empty; `belongs` guards against a stale entry. */
  private async revokeAll (scope: GrantScope, belongs: (grant: Grant) => boolean): Promise<Grant[]> {
    const { index } = this.grants
    const revoked: Grant[] = []
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const sids = (await index.range(scope, BATCH)).map(e => e.member)
      if (sids.length === 0) break
      const grants = await Promise.all(sids.map(async sid => {
        const grant = await this.grants.readGrant(sid)
        return grant !== null && belongs(grant) ? await this.grants.revoke(sid, 'revoked_by_admin') : null
      }))
      revoked.push(...grants.filter(g => g !== null))
      await index.forget(scope, sids)
    }
    return revoked
  }

  private async summaries (items: Array<{ grant: Grant, score: number }>): Promise<GrantSummary[]> {
    const names = await this.clientNames(items.map(i => i.grant.clientId))
    return items.map(({ grant, score }) => {
      const { user } = grant
      const refreshedAt = this.grants.index.activeAt(score)
      return {
        sid: grant.sid,
        user: { oid: user.oid, tid: user.tid, name: user.name, username: user.preferred_username },
        clientId: grant.clientId,
        clientName: names.get(grant.clientId),
        scopes: [...grant.scopes],
        createdAt: grant.createdAt,
        ...(refreshedAt > grant.createdAt ? { refreshedAt } : {}),
        expiresAt: score
      }
    })
  }

  private async clientNames (ids: string[]): Promise<Map<string, string | undefined>> {
    const unique = [...new Set(ids)]
    const records = await Promise.all(unique.map(async id => await this.clients.known(id)))
    return new Map(unique.map((id, i) => [id, records[i]?.client_name]))
  }

  private async clientSummary (client: ClientRecord | string): Promise<ClientSummary> {
    const clientId = typeof client === 'string' ? client : client.client_id
    const activeGrants = await this.grants.index.count({ clientId })
    if (typeof client === 'string') {
      return { clientId, source: /^https:\/\//i.test(clientId) ? 'metadata_document' : 'registered', redirectUris: [], grantTypes: [], activeGrants }
    }
    return {
      clientId,
      name: client.client_name,
      source: client.source,
      authMethod: client.token_endpoint_auth_method,
      redirectUris: [...client.redirect_uris],
      grantTypes: [...client.grant_types],
      ...(client.source === 'registered' ? { registeredAt: client.client_id_issued_at } : {}),
      activeGrants
    }
  }

  /** Consents in the index with their scopes (members whose record is gone are dropped). */
  private async consentEntries (limit: number): Promise<ConsentSummary[]> {
    const entries = await this.store.indexRange(CONSENT_INDEX_KEY, { expired: this.now(), limit })
    const split = entries.map(e => ({ id: e.member.slice(0, 43), clientId: e.member.slice(44), expiresAt: e.score }))
    const records = await this.store.getMany(split.map(c => consentRecordKey(c.id, c.clientId)))
    const gone = entries.filter((e, i) => records[i] === null && e.score - this.consentTtl < this.now() - WRITE_WINDOW)
    await this.store.indexRemove(CONSENT_INDEX_KEY, gone.map(e => e.member))
    return split.flatMap((c, i) => records[i] === null ? [] : [{ ...c, scopes: parsed<string[]>(records[i]) as string[] }])
  }

  private async removeConsent (consent: { id: string, clientId: string }): Promise<void> {
    await this.store.delete(consentRecordKey(consent.id, consent.clientId))
    await this.store.indexRemove(CONSENT_INDEX_KEY, [`${consent.id}:${consent.clientId}`])
  }
}
