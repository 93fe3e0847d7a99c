// Issue #17 §3: with no exporter set, tracing costs nothing: no OpenTelemetry module, not even the API,
// is loaded (so neither @fastify/otel's hooks nor a provider exist). Checked in a child process that
// builds the service as server.ts does, against the same child with an OTLP endpoint (the check can fail).
import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const OTEL = /@opentelemetry|@fastify\/otel|@azure\/monitor-opentelemetry/

async function loadedModules (mode: 'off' | 'on') {
  const log = join(mkdtempSync(join(tmpdir(), 'module-log-')), 'modules.txt')
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--require', './test/support/test-process.cjs', '--import', './test/support/module-log.mjs', 'test/support/tracing-child.ts', mode], { cwd: ROOT, env: { ...process.env, MODULE_LOG: log } }, (err, out, errOut) => {
      if (err !== null) reject(new Error(`${err.message}\n${errOut}`))
      else resolve(out)
    })
  })
  const { status, cjs } = JSON.parse(stdout) as { status: number, cjs: string[] }
  return { status, modules: [...readFileSync(log, 'utf8').split('\n').filter(Boolean), ...cjs] }
}

t.test('with tracing off, no OpenTelemetry module is loaded', async t => {
  const { status, modules } = await loadedModules('off')
  t.equal(status, 200)
  t.ok(modules.some(m => m.includes('/fastify/')), 'the module list is filled')
  t.same(modules.filter(m => OTEL.test(m)), [])
})

t.test('with an OTLP endpoint, the same child loads them (the check above can fail)', async t => {
  const { status, modules } = await loadedModules('on')
  t.equal(status, 200)
  for (const name of ['@opentelemetry/api', '@fastify/otel', '@opentelemetry/sdk-trace-node', '@opentelemetry/exporter-trace-otlp-http']) {
    t.ok(modules.some(m => m.includes(`/${name}/`)), `${name} loaded`)
  }
  t.notOk(modules.some(m => m.includes('@azure/monitor-opentelemetry')), 'Azure Monitor only with its connection string')
})
