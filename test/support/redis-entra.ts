import { randomBytes, randomUUID } from 'node:crypto'
import { setTimeout as pause } from 'node:timers/promises'
import type { AccessToken, TokenCredential } from '@azure/identity'
import { Redis } from 'ioredis'
import type { AuthClock } from '../../plugins/store/entra-auth.ts'
import { REDIS_URL } from '../helper.ts'

// Microsoft Entra authentication to Redis, on the shared Redis: an ACL user whose password is the
// token a test credential returns, a clock the test moves, and a look at the user's connections.

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** A JWT-shaped token as Entra issues for Redis (unsigned here: Redis only compares it as a password). */
export function fakeEntraToken (claims: Record<string, unknown>): string {
  return `${b64({ typ: 'JWT', alg: 'RS256' })}.${b64({ aud: 'https://redis.azure.com', ...claims })}.${randomBytes(32).toString('base64url')}`
}

const settle = async () => { await new Promise(resolve => setImmediate(resolve)) }

/** Timers the test fires by moving the time forward. */
export class ManualClock implements AuthClock {
  private time: number
  private readonly timers = new Set<{ at: number, fn: () => void }>()
  constructor (start = Date.UTC(2026, 11, 7, 12)) { this.time = start }
  now = () => this.time
  setTimeout = (fn: () => void, ms: number) => {
    const timer = { at: this.time + ms, fn }
    this.timers.add(timer)
    return timer
  }

  clearTimeout = (handle: unknown) => { this.timers.delete(handle as { at: number, fn: () => void }) }

  /**
   * Moves the time forward by `ms`, firing each timer that falls due, in order. After each, the event
   * loop turns once, so that what the timer started (a token request) can set its next timer.
   */
  async advance (ms: number): Promise<void> {
    const target = this.time + ms
    await settle()
    for (;;) {
      const due = [...this.timers].filter(t => t.at <= target).sort((a, b) => a.at - b.at)[0]
      if (due === undefined) break
      this.timers.delete(due)
      this.time = due.at
      due.fn()
      await settle()
    }
    this.time = target
  }

  get pending (): number[] { return [...this.timers].map(t => t.at - this.time) }
}

/** A TokenCredential whose answer the test sets: a token (with the lifetime given) or an error. */
export class TestCredential implements TokenCredential {
  calls = 0
  scopes: string[] = []
  answer: { token: string, lifetimeMs: number } | Error
  private readonly clock: ManualClock

  constructor (clock: ManualClock, answer: TestCredential['answer']) {
    this.clock = clock
    this.answer = answer
  }

  async getToken (scopes: string | string[]): Promise<AccessToken> {
    this.calls += 1
    this.scopes.push(...[scopes].flat())
    const answer = this.answer
    if (answer instanceof Error) throw answer
    return { token: answer.token, expiresOnTimestamp: this.clock.now() + answer.lifetimeMs, tokenType: 'Bearer' }
  }
}

/** A Redis ACL user of its own on the shared Redis (deleted when the test ends); the default user is never changed. */
export async function aclUser (t: { teardown: (fn: () => unknown) => void }, prefix: string) {
  const admin = new Redis(REDIS_URL)
  const name = `emg-test-${randomUUID()}`
  const token = (lifetimeMs = 3600000) => fakeEntraToken({ oid: name, exp: Math.floor((Date.now() + lifetimeMs) / 1000) })
  t.teardown(async () => {
    await admin.call('ACL', 'DELUSER', name)
    admin.disconnect()
  })
  return {
    name,
    admin,
    token,
    /** Only `password` opens this user from now on. */
    setPassword: async (password: string) => { await admin.call('ACL', 'SETUSER', name, 'on', 'resetpass', `>${password}`, `~${prefix}*`, '+@all') },
    /** The user's connections as CLIENT LIST shows them (id, cmd: the last command each ran). */
    connections: async () => ((await admin.call('CLIENT', 'LIST')) as string).split('\n').filter(Boolean)
      .map(line => Object.fromEntries(line.split(' ').map(field => field.split('=', 2) as [string, string])))
      .filter(c => c.user === name),
    /** ACL LOG entries about this user (failed AUTH, refused commands). */
    aclLog: async () => ((await admin.call('ACL', 'LOG')) as unknown[][])
      .map(entry => Object.fromEntries(Array.from({ length: entry.length / 2 }, (_, i) => [String(entry[2 * i]), entry[2 * i + 1]])))
      .filter(entry => entry.username === name)
  }
}

/** Polls `check` every 10 ms until it holds (at most `ms` of real time): for what Redis and ioredis do on their own time. */
export async function until (check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`)
    await pause(10)
  }
}
