import Fastify, { type FastifyInstance } from 'fastify'
import { createServer } from 'node:net'
import { Writable } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import app, { serverOptions, type AppOptions } from '../app.ts'
import { loadConfig } from '../config/index.ts'

export const REDIS_URL = 'redis://127.0.0.1:6379'

type Test = { teardown: (fn: () => unknown) => void, fail?: (msg: string) => void }

/** Settings every test starts from: quiet logs, the in-memory store, the development identity provider. */
export function testEnv (overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { LOG_LEVEL: 'silent', HOST: '127.0.0.1', ...overrides }
}

/** A Redis key prefix of its own, so tests running in parallel never share counters or keys. */
export function redisEnv (extra: Record<string, string> = {}): Record<string, string> {
  return { REDIS_URL, REDIS_KEY_PREFIX: `test:${randomUUID().slice(0, 8)}:`, ...extra }
}

export interface BuildOptions {
  /** Collect every log line (JSON strings) in `logs`. */
  logs?: string[]
  /** Runs inside app.ts's context, after it, before ready(): test-only routes, or a handle on its decorators. */
  setup?: (fastify: FastifyInstance) => unknown
  /** Extra options for app.ts (its test seams), besides the config. */
  app?: Omit<AppOptions, 'config'>
}

/** Builds the app exactly as server.ts does, with test settings, and closes it when the test ends. */
export async function build (t: Test, env: Record<string, string | undefined> = {}, opts: BuildOptions = {}): Promise<FastifyInstance> {
  const config = loadConfig(testEnv(env))
  const options = serverOptions(config)
  if (opts.logs !== undefined) {
    const lines = opts.logs
    const stream = new Writable({
      write (chunk, _enc, done) {
        lines.push(...chunk.toString().split('\n').filter(Boolean))
        done()
      }
    })
    options.logger = { ...(options.logger as object), level: env.LOG_LEVEL ?? 'debug', stream }
  }
  // as server.ts does when tracing is on
  const tracing = opts.app?.tracing
  if (tracing !== undefined) options.logger = { ...(options.logger as object), mixin: tracing.logMixin }
  const fastify = Fastify(options)
  // app.ts is an encapsulated plugin; `setup` runs inside its context (after it), so test-only
  // routes see its decorators (store, config, ...) and its error handler.
  const setup = opts.setup
  await fastify.register(async function testedApp (instance, appOpts: AppOptions) {
    await app(instance, appOpts)
    if (setup !== undefined) await setup(instance)
  }, { ...opts.app, config })
  t.teardown(() => fastify.close())
  await fastify.ready()
  return fastify
}

export async function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

/**
 * Builds and listens on a real port, with MCP_BASE_URL pointing at it, for tests where
 * a real client must connect (SDK client, browser, the development identity provider).
 */
export async function buildListening (t: Test, env: Record<string, string | undefined> = {}, opts: BuildOptions = {}) {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const fastify = await build(t, { MCP_BASE_URL: baseUrl, PORT: String(port), ...env }, opts)
  await fastify.listen({ port, host: '127.0.0.1' })
  return { app: fastify, baseUrl, port }
}

/** Tests that need Redis fail loudly when it is absent; they never skip. */
export async function requireRedis (url = REDIS_URL): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0, retryStrategy: () => null })
  try {
    await client.connect()
    await client.ping()
  } catch (err) {
    throw new Error(`These tests need a Redis server at ${url} (start one with: redis-server --daemonize yes): ${(err as Error).message}`)
  } finally {
    client.disconnect()
  }
}
