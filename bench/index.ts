// `npm run bench`: runs every bench/*.bench.ts in turn (or those named on the command line).
// Each one measures its subject against a baseline in the same run and prints ratios,
// since these machines are too noisy for absolute figures.
import { readdirSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'

const folder = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const files = readdirSync(folder)
  .filter(f => f.endsWith('.bench.ts'))
  .filter(f => wanted.length === 0 || wanted.some(w => f.includes(w)))
  .sort()

for (const file of files) {
  process.stdout.write(`\n== ${file}\n`)
  const mod = await import(pathToFileURL(join(folder, file)).href)
  await mod.default()
}
process.exit(0)
