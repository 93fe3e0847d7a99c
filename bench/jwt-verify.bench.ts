// Bearer-token verification cost with warm keys (self-issued and Entra tokens), against
// the bare RS256 signature check, and the request overhead of `authenticate` on a trivial
// route against the same route without it (autocannon, alternating rounds).
import { createPublicKey, createVerify } from 'node:crypto'
import autocannon from 'autocannon'
import { azureEnv, buildWithRoutes, entraToken, makeRsaKey, startJwksServer } from '../test/support/jwks-server.ts'

const ITERATIONS = 20000
const ROUND_SECONDS = 3
const ROUNDS = 2

function stats (samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  const total = samples.reduce((a, b) => a + b, 0)
  return { p50: at(0.5), p99: at(0.99), opsPerSecond: Math.round(samples.length / (total / 1e6)) }
}

async function timeEach (fn: () => unknown): Promise<number[]> {
  for (let i = 0; i < 2000; i++) await fn() // warm up (JIT, key caches)
  const samples: number[] = new Array(ITERATIONS)
  for (let i = 0; i < ITERATIONS; i++) {
    const start = process.hrtime.bigint()
    await fn()
    samples[i] = Number(process.hrtime.bigint() - start) / 1000
  }
  return samples
}

function line (name: string, s: ReturnType<typeof stats>) {
  process.stdout.write(`${name.padEnd(42)} p50 ${s.p50.toFixed(1).padStart(6)} µs   p99 ${s.p99.toFixed(1).padStart(7)} µs   ${String(s.opsPerSecond).padStart(7)} ops/s\n`)
}

async function cannon (url: string, token?: string): Promise<{ rps: number, p50: number }> {
  const result = await autocannon({
    url,
    connections: 10,
    duration: ROUND_SECONDS,
    headers: token !== undefined ? { authorization: `Bearer ${token}` } : {}
  })
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`)
  return { rps: result.requests.average, p50: result.latency.p50 }
}

export default async function bench () {
  const cleanups: Array<() => unknown> = []
  const t = { teardown: (fn: () => unknown) => { cleanups.push(fn) } }
  try {
    const key = makeRsaKey('bench-key')
    const jwks = await startJwksServer(t, [key])
    const app = await buildWithRoutes(t, azureEnv(jwks, { LOG_LEVEL: 'silent', RATE_LIMIT_ENABLED: 'false' }), (fastify) => {
      fastify.get('/bench/open', async () => ({ ok: true }))
      fastify.get('/bench/auth', { preHandler: fastify.authenticate }, async () => ({ ok: true }))
    })

    const self = app.tokenSigner.issueAccessToken({ sub: 'bench', client_id: 'bench-client', scope: 'tools.read', sid: 'bench-grant' }).accessToken
    const entra = entraToken(key, jwks.origin)
    await app.verifyAccessToken(entra) // fetch the Entra keys once

    // Baseline: the RS256 signature check alone (what no verifier can go below).
    const [h, p, sig] = entra.split('.')
    const signature = Buffer.from(sig, 'base64url')
    const keyObject = createPublicKey(key.publicPem)
    const rawRs256 = stats(await timeEach(() => createVerify('RSA-SHA256').update(`${h}.${p}`).verify(keyObject, signature)))
    const pemEachTime = stats(await timeEach(() => createVerify('RSA-SHA256').update(`${h}.${p}`).verify(key.publicPem, signature)))
    const selfStats = stats(await timeEach(() => app.verifyAccessToken(self)))
    const entraStats = stats(await timeEach(() => app.verifyAccessToken(entra)))
    process.stdout.write(`verification with warm keys (${ITERATIONS} each; target p50 < 50 µs)\n`)
    line('RS256 signature only (KeyObject)', rawRs256)
    line('RS256 signature, PEM parsed every time', pemEachTime)
    line('self-issued token (incl. revocation read)', selfStats)
    line('Entra token', entraStats)

    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as { port: number }
    const base = `http://127.0.0.1:${port}`
    const open: Array<{ rps: number, p50: number }> = []
    const auth: Array<{ rps: number, p50: number }> = []
    for (let round = 0; round < ROUNDS; round++) {
      open.push(await cannon(`${base}/bench/open`))
      auth.push(await cannon(`${base}/bench/auth`, entra))
    }
    const mean = (xs: Array<{ rps: number }>) => xs.reduce((a, x) => a + x.rps, 0) / xs.length
    const openRps = mean(open)
    const authRps = mean(auth)
    process.stdout.write(`\nrequest overhead (autocannon, 10 connections, ${ROUNDS} alternating rounds of ${ROUND_SECONDS} s)\n`)
    process.stdout.write(`${'trivial route, no authenticate'.padEnd(42)} ${openRps.toFixed(0).padStart(7)} req/s\n`)
    process.stdout.write(`${'same route with authenticate (Entra token)'.padEnd(42)} ${authRps.toFixed(0).padStart(7)} req/s\n`)
    process.stdout.write(`ratio authenticated / plain: ${(authRps / openRps).toFixed(2)}  (cost per request ≈ ${((1 / authRps - 1 / openRps) * 1e6).toFixed(0)} µs of one event loop)\n`)
    process.stdout.write(`p50 ${selfStats.p50 < 50 && entraStats.p50 < 50 ? 'meets' : 'MISSES'} the 50 µs target (self ${selfStats.p50.toFixed(1)} µs, Entra ${entraStats.p50.toFixed(1)} µs)\n`)
  } finally {
    for (const fn of cleanups.reverse()) await fn()
  }
}
