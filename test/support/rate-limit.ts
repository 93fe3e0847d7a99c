import Fastify, { type FastifyInstance } from 'fastify'
import formbody from '@fastify/formbody'
import { Writable } from 'node:stream'
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { Redis } from 'ioredis'
import app, { serverOptions } from '../../app.ts'
import { loadConfig } from '../../config/index.ts'
import { testEnv } from '../helper.ts'

type Test = { teardown: (fn: () => unknown) => void }

/** The Fastify instance to inject into, and `inner`: app.ts's own context, with its decorators. */
export type TestApp = FastifyInstance & { inner: FastifyInstance }

/**
 * The app plus small routes under /t/ that opt into each rate-limit family, as the real
 * OAuth and MCP routes do. `logs` collects every log line (JSON) when given.
 */
export async function buildWithRoutes (t: Test, env: Record<string, string | undefined> = {}, logs?: string[], extra?: (scope: FastifyInstance) => void): Promise<TestApp> {
  const config = loadConfig(testEnv(env))
  const options = serverOptions(config)
  if (logs !== undefined) {
    const stream = new Writable({
      write (chunk, _enc, done) {
        logs.push(...chunk.toString().split('\n').filter(Boolean))
        done()
      }
    })
    options.logger = { ...(options.logger as object), level: 'info', stream }
  }
  const fastify = Fastify(options)
  let inner: FastifyInstance | undefined
  // app.ts is an encapsulated plugin: the test routes go inside its context, as the real
  // routes are, so its root hooks and decorators apply to them.
  await fastify.register(async function testedApp (instance) {
    await app(instance, { config })
    await instance.register(async function testRoutes (scope) {
      await scope.register(formbody)
      const ok = async () => ({ ok: true })
      scope.post('/t/register', { config: { rateLimitFamily: 'register' } }, ok)
      scope.get('/t/authorize', { config: { rateLimitFamily: 'authorize' } }, ok)
      scope.post('/t/authorize/consent', { config: { rateLimitFamily: 'authorize' } }, ok)
      scope.post('/t/token', { config: { rateLimitFamily: 'token' } }, ok)
      scope.post('/t/revoke', { config: { rateLimitFamily: 'revoke' } }, ok)
      scope.post('/t/mcp', { config: { rateLimitFamily: 'mcp' } }, ok)
      scope.get('/t/free', ok)
      extra?.(scope)
    })
    inner = instance
  })
  t.teardown(() => fastify.close())
  await fastify.ready()
  const testApp = fastify as unknown as TestApp
  testApp.inner = inner as unknown as FastifyInstance
  return testApp
}

let key: KeyObject | undefined

/**
 * A JWT signed with a throwaway RSA key. The rate limiter only decodes it (at onRequest no
 * token is verified yet), so any key will do for tests of keying.
 */
export function selfMadeToken (claims: Record<string, unknown>): string {
  key ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
  const header = Buffer.from(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: 'test' })).toString('base64url')
  const payload = Buffer.from(JSON.stringify({ iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 600, ...claims })).toString('base64url')
  const signature = sign('sha256', Buffer.from(`${header}.${payload}`), key).toString('base64url')
  return `${header}.${payload}.${signature}`
}

export const auditLines = (logs: string[], event?: string) => logs
  .map(l => JSON.parse(l))
  .filter(l => l.audit === true && (event === undefined || l.event === event))

/** A Redis server of the test's own on a spare port, which the test can stop and start. */
export class PrivateRedis {
  readonly port: number
  private child: ChildProcess | null = null
  constructor (port: number) { this.port = port }

  get url () { return `redis://127.0.0.1:${this.port}` }

  async start (): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let output = ''
    child.stdout?.on('data', (d: Buffer) => { output += d.toString() })
    // Wait for the server to say it accepts connections (no polling on a clock).
    await new Promise<void>((resolve, reject) => {
      const onData = () => { if (output.includes('Ready to accept connections')) { cleanup(); resolve() } }
      const onExit = (code: number | null) => { cleanup(); reject(new Error(`redis-server exited (${code}): ${output.slice(-500)}`)) }
      const cleanup = () => { child.stdout?.off('data', onData); child.off('exit', onExit) }
      child.stdout?.on('data', onData)
      child.once('exit', onExit)
      child.once('error', reject)
    })
  }

  async stop (): Promise<void> {
    const child = this.child
    if (child === null || child.exitCode !== null) return
    this.child = null
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
  }
}

/** Resolves when the client reports `ready` (it reconnects by itself after an outage). */
export async function clientReady (client: Redis): Promise<void> {
  if (client.status === 'ready') return
  await once(client, 'ready')
}
