import t from 'tap'
import { readFileSync } from 'node:fs'
import { build } from '../helper.ts'
import { PAGE_CSP } from '../../routes/oauth/consent-page.ts'
import { INSPECTOR, inspectorCommand } from '../../routes/home.ts'
import { PINNED } from '../support/node22-tools.ts'

const AZURE = {
  AZURE_TENANT_ID: '72f988bf-86f1-41af-91ab-2d7cd011db47',
  AZURE_CLIENT_ID: '0b8f3a4e-1111-2222-3333-444455556666',
  AZURE_CLIENT_SECRET: 'not-a-real-secret',
  MCP_BASE_URL: 'https://mcp.example.com'
}

t.test('GET / is a page: what the service is, the MCP URL, links that answer; the strict page CSP', async t => {
  const app = await build(t)
  const res = await app.inject({ method: 'GET', url: '/' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.equal(res.headers['content-security-policy'], PAGE_CSP, 'nothing loads from anywhere: no scripts, inline styles only')
  t.match(res.body, '<code id="mcp-url">http://localhost:8000/mcp</code>')
  t.notMatch(res.body, /<script|<link|src="https?:|@import/i, 'no external resources')
  const links = [...res.body.matchAll(/href="([^"]+)"/g)].map(m => m[1])
  t.ok(links.length >= 5, 'health and discovery links')
  for (const link of links) {
    t.equal((await app.inject({ method: 'GET', url: link })).statusCode, 200, `${link} answers`)
  }
})

t.test('in development, GET / lists the sample users and a one-line MCP Inspector command with the Node it needs', async t => {
  const app = await build(t)
  const { body } = await app.inject({ method: 'GET', url: '/' })
  for (const user of ['Ada Lovelace', 'ada@dev-idp.example.com', 'Grace Hopper', 'Alan Turing']) t.match(body, user)
  t.match(body, `npx -y @modelcontextprotocol/inspector@${INSPECTOR.version} --cli http://localhost:8000/mcp --method tools/list`)
  t.match(body, `Node ${INSPECTOR.node} or later`)
})

t.test('with a real tenant, GET / shows no sample users and no development hints', async t => {
  const app = await build(t, AZURE)
  const { statusCode, body } = await app.inject({ method: 'GET', url: '/' })
  t.equal(statusCode, 200)
  t.match(body, '<code id="mcp-url">https://mcp.example.com/mcp</code>')
  t.notMatch(body, /sample-users|Ada Lovelace|inspector/i)
})

t.test('the Inspector command is the tested release, and the README gives the same line with its Node version', async t => {
  t.equal(INSPECTOR.version, PINNED['@modelcontextprotocol/inspector'], 'the version test/e2e/inspector.test.ts runs')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  t.match(readme, inspectorCommand('http://localhost:8000/mcp'))
  t.match(readme, `Node ${INSPECTOR.node}`)
})
