// The CLI as the documentation tells a person to run it from a checkout: through npm.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { inCheckout, tempConfigHome } from '../support/cli.ts'
import { programName } from '../../client/run.ts'

t.test('docs/client.md and the README run the client as `npm run -s client --` (npm\'s banner would go to stdout)', async t => {
  for (const file of ['docs/client.md', 'README.md']) {
    const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8')
    t.notMatch(text, /npm run client\b/, `${file}: no banner-printing invocation`)
  }
  t.match(readFileSync(new URL('../../docs/client.md', import.meta.url), 'utf8'), 'npm run -s client -- login')
})

t.test('`npm run -s client -- status --json` prints one JSON document on stdout, and the hint names that command', async t => {
  const xdg = await tempConfigHome(t)
  const { code, stdout } = await inCheckout('npm run -s client -- status --json', xdg).done
  t.equal(code, 3, 'not signed in')
  t.doesNotThrow(() => JSON.parse(stdout), `stdout is one JSON document: ${stdout}`)
  t.notMatch(stdout, /^>/m, 'no npm banner')

  const whoami = await inCheckout('npm run -s client -- whoami', xdg).done
  t.equal(whoami.code, 3)
  t.match(whoami.stderr, 'Run `npm run -s client -- login --server http://localhost:8000/mcp` first.')
})

t.test('the hint names the program as it was started: npm script, installed bin, node or tsx and the script', async t => {
  t.equal(programName({ npm_lifecycle_event: 'client' }, '/repo/client/cli.ts', '/repo'), 'npm run -s client --')
  t.equal(programName({}, '/usr/local/bin/entra-mcp-client', '/home/me'), 'entra-mcp-client')
  t.equal(programName({}, '/repo/dist/client/cli.js', '/repo'), 'node dist/client/cli.js')
  t.equal(programName({}, '/repo/client/cli.ts', '/repo'), 'npx tsx client/cli.ts')
})
