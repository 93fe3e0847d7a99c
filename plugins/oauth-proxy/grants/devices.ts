import type { FastifyRequest } from 'fastify'
import type { AuditEvent, AuditFields } from '../../audit-log/events.ts'
import {
  AccessDeniedError, AuthorizationPendingError, ExpiredTokenError, InvalidGrantError, SlowDownError
} from '../../errors/oauth.ts'
import { getJson, setJson, type Store } from '../../store/contract.ts'
import { deviceAnswerKey, deviceCodeId, deviceKey, devicePollKey, deviceUseKey, deviceUserCodeKey } from '../../store/keys.ts'
import type { EntraTokenSet } from '../upstream-entra.ts'
import { newUserCode, normaliseUserCode } from '../device/user-code.ts'
import {
  DEVICE_CODE_TTL, DEVICE_POLL_INTERVAL, DEVICE_RECORD_GRACE, randomToken, type DevicePollRecord, type DeviceRecord, type Grant, type GrantUser
} from './records.ts'

// The device authorization grant's records (RFC 8628), a part of the grants model (model.ts
// makes it and lends it the store and the grant maker): `device:`, `device-user:`,
// `device-answer:`, `device-use:`, `device-poll:` (plugins/store/keys.ts).

/** RFC 8628 §3.2, without the URIs (the route adds them). */
export interface DeviceAuthorization { deviceCode: string, userCode: string, expiresIn: number, interval: number }

/** The user's sign-in at Entra that approves an authorization. */
export interface SignedIn { user: GrantUser, tokens: EntraTokenSet }

/** A pending device authorization found by its user code. */
export interface PendingDevice { id: string, record: DeviceRecord }

export interface DeviceGrantsOptions {
  store: Store
  /** Epoch seconds, epoch milliseconds. */
  now: () => number
  nowMs: () => number
  audit (event: AuditEvent, fields?: AuditFields, request?: FastifyRequest): void
  /** Makes and stores the grant of an approval (the grants model's). */
  storeGrant (clientId: string, scopes: string[], signedIn: SignedIn): Promise<Grant>
}

export const unknownDeviceCode = () => new InvalidGrantError('The device code is unknown, expired or already used')

export class DeviceGrants {
  constructor (private readonly opts: DeviceGrantsOptions) {}

  /** A new device code (high entropy, kept hashed) and user code (short, unique while it lives). */
  async start (input: { clientId: string, scopes: string[], resource: string, requestIp: string }): Promise<DeviceAuthorization> {
    const { store } = this.opts
    const deviceCode = randomToken(32)
    const id = deviceCodeId(deviceCode)
    const now = this.opts.now()
    let userCode = newUserCode()
    const indexOf = (code: string) => deviceUserCodeKey(normaliseUserCode(code) as string)
    // 2.6e10 codes: a clash with a living one is rare; take another then.
    for (let i = 0; i < 5 && await store.get(indexOf(userCode)) !== null; i++) userCode = newUserCode()
    const record: DeviceRecord = {
      ...input, createdAt: now, expiresAt: now + DEVICE_CODE_TTL, interval: DEVICE_POLL_INTERVAL, status: 'pending', userCodeKey: indexOf(userCode)
    }
    await setJson(store, deviceKey(id), record, DEVICE_CODE_TTL + DEVICE_RECORD_GRACE)
    await store.set(indexOf(userCode), id, DEVICE_CODE_TTL)
    return { deviceCode, userCode, expiresIn: DEVICE_CODE_TTL, interval: DEVICE_POLL_INTERVAL }
  }

  /** The pending, unexpired authorization a typed user code names, or null. */
  async findByUserCode (typed: unknown): Promise<PendingDevice | null> {
    const code = normaliseUserCode(typed)
    if (code === null) return null
    const id = await this.opts.store.get(deviceUserCodeKey(code))
    if (id === null) return null
    const record = await this.pending(id)
    return record === null ? null : { id, record }
  }

  /** The authorization `id` while it waits for the user's answer, or null. */
  async pending (id: string): Promise<DeviceRecord | null> {
    const record = await getJson<DeviceRecord>(this.opts.store, deviceKey(id))
    if (record === null || record.status !== 'pending' || this.opts.now() >= record.expiresAt) return null
    return record
  }

  /**
   * The user's approval after their sign-in: the grant is made and the device code will redeem it.
   * Only the first answer counts (approve or deny, from any browser); null when the authorization
   * was already answered or has expired, and then no grant is made.
   */
  async approve (id: string, signedIn: SignedIn): Promise<{ record: DeviceRecord, grant: Grant } | null> {
    const record = await this.claimAnswer(id)
    if (record === null) return null
    const grant = await this.opts.storeGrant(record.clientId, record.scopes, signedIn)
    const approved: DeviceRecord = { ...record, status: 'approved', sid: grant.sid }
    await setJson(this.opts.store, deviceKey(id), approved, this.recordTtl(record))
    return { record: approved, grant }
  }

  /** The user's denial (or a failed sign-in): the client hears access_denied. Null when already answered. */
  async deny (id: string): Promise<DeviceRecord | null> {
    const record = await this.claimAnswer(id)
    if (record === null) return null
    const denied: DeviceRecord = { ...record, status: 'denied' }
    await setJson(this.opts.store, deviceKey(id), denied, this.recordTtl(record))
    return denied
  }

  /**
   * One poll of the client at /token (RFC 8628 §3.4, §3.5): the grant once approved (one poll
   * gets it, whatever the race), else authorization_pending, slow_down (faster than the interval:
   * the interval grows by 5 s), access_denied or expired_token. Bound to the client it was issued to.
   */
  async poll (input: { deviceCode: string, clientId: string }, request?: FastifyRequest): Promise<{ sid: string, scopes: string[] }> {
    const { store } = this.opts
    const id = deviceCodeId(input.deviceCode)
    const record = await getJson<DeviceRecord>(store, deviceKey(id))
    if (record === null) throw unknownDeviceCode()
    if (record.clientId !== input.clientId) throw new InvalidGrantError('The device code was issued to another client')
    if (record.status === 'approved' && record.sid !== undefined) {
      if (await store.incr(deviceUseKey(id), this.recordTtl(record)) > 1) throw unknownDeviceCode()
      return { sid: record.sid, scopes: record.scopes }
    }
    if (record.status === 'denied') throw new AccessDeniedError('The user denied the request')
    if (this.opts.now() >= record.expiresAt) {
      this.opts.audit('device.expired', { outcome: 'failure', client_id: record.clientId }, request)
      throw new ExpiredTokenError('The device code has expired; start again')
    }
    await this.pace(id, record)
    throw new AuthorizationPendingError('The user has not finished yet')
  }

  /** slow_down when this poll comes sooner than the interval after the last one. */
  private async pace (id: string, record: DeviceRecord): Promise<void> {
    const { store } = this.opts
    const last = await getJson<DevicePollRecord>(store, devicePollKey(id))
    const now = this.opts.nowMs()
    const interval = last?.interval ?? record.interval
    const tooSoon = last !== null && now - last.at < interval * 1000
    const next: DevicePollRecord = { at: now, interval: tooSoon ? interval + 5 : interval }
    await setJson(store, devicePollKey(id), next, this.recordTtl(record))
    if (tooSoon) throw new SlowDownError(`Polling too fast: wait at least ${next.interval} seconds between requests`)
  }

  /** The pending record, claimed for the one answer it may get (atomic across instances). */
  private async claimAnswer (id: string): Promise<DeviceRecord | null> {
    const record = await this.pending(id)
    if (record === null) return null
    if (await this.opts.store.incr(deviceAnswerKey(id), this.recordTtl(record)) > 1) return null
    // Answered: the user code names nothing any more (single use).
    await this.opts.store.delete(record.userCodeKey)
    return record
  }

  private recordTtl (record: DeviceRecord): number {
    return Math.max(1, record.expiresAt + DEVICE_RECORD_GRACE - this.opts.now())
  }
}
