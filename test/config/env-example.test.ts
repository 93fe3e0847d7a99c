import t from 'tap'
import { readFileSync } from 'node:fs'
import { envNames } from '../../config/schema.ts'
import { loadConfig } from '../../config/index.ts'

// Every variable the service reads is documented in .env.example and README.md, and passed through by docker-compose.yml.

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')

t.test('.env.example documents every variable of config/schema.ts, each with a comment', async t => {
  const lines = read('.env.example').split('\n')
  for (const name of envNames) {
    const at = lines.findIndex(line => line.startsWith(`${name}=`))
    t.ok(at >= 0, `${name} is in .env.example`)
    if (at < 0) continue
    let above = at - 1
    while (above >= 0 && /^[A-Z0-9_]+=/.test(lines[above])) above--
    t.ok(above >= 0 && lines[above].startsWith('#'), `${name} has a comment above it`)
  }
  const documented = lines.filter(line => /^[A-Z0-9_]+=/.test(line)).map(line => line.split('=')[0])
  t.same(documented.filter(name => !(envNames as string[]).includes(name)), [], 'no variable the service does not read')
})

t.test('.env.example as it stands (all empty) is the development setup', async t => {
  const env = Object.fromEntries(read('.env.example').split('\n').filter(line => /^[A-Z0-9_]+=/.test(line)).map(line => line.split('=', 2) as [string, string]))
  const config = loadConfig(env)
  t.equal(config.devIdentityProvider, true)
  t.equal(config.baseUrl, 'http://localhost:8000')
})

t.test('docker-compose.yml passes every variable through', async t => {
  const compose = read('docker-compose.yml')
  for (const name of envNames) t.match(compose, new RegExp(`^ {6}${name}: `, 'm'), `${name} in docker-compose.yml`)
})

t.test('README.md has every variable in its configuration table', async t => {
  const rows = read('README.md').split('\n').filter(line => line.startsWith('| `'))
  for (const name of envNames) t.ok(rows.some(row => row.split('|')[1].includes(`\`${name}\``)), `${name} in the README table`)
})
