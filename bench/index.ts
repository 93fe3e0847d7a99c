// `npm run bench`: runs every bench/*.bench.ts in turn (or those named on the command line).
// Each one measures its subject against a baseline in the same run and prints ratios,
// since these machines are too noisy for absolute figures. Each bench runs in a process of its
// own: a bench that drives load from this process (autocannon) must not inherit the heap, timers
// or JIT state another bench left behind (the MCP ratio dropped from ~4.5 to ~4.0 when it ran
// after the JWT bench in one process).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

const folder = dirname(fileURLToPath(import.meta.url))
const single = process.env.BENCH_FILE

if (single !== undefined) {
  const mod = await import(pathToFileURL(join(folder, single)).href)
  await mod.default()
  process.exit(0)
}

const wanted = process.argv.slice(2)
const files = readdirSync(folder)
  .filter(f => f.endsWith('.bench.ts'))
  .filter(f => wanted.length === 0 || wanted.some(w => f.includes(w)))
  .sort()

let failed = 0
for (const file of files) {
  process.stdout.write(`\n== ${file}\n`)
  const run = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_FILE: file }
  })
  if (run.status !== 0) {
    failed++
    process.stderr.write(`${file} failed (exit ${String(run.status ?? run.signal)})\n`)
  }
}
process.exit(failed === 0 ? 0 : 1)
