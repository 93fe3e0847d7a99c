// A whole sign-in against a running service, as a separate Node process, so that the service's
// certificate is trusted the way the README tells Node clients to: NODE_EXTRA_CA_CERTS.
//   node --import tsx test/support/sign-in-over-https.ts https://localhost:PORT
// Prints one JSON line: what the test asserts on.
import { Browserless } from './browserless.ts'
import { fullFlow, mcpStatus, registerClient } from './oauth-flow.ts'

const baseUrl = process.argv[2]
const health = await fetch(`${baseUrl}/health`)
const client = await registerClient(baseUrl)
const browser = new Browserless()
const { tokens } = await fullFlow(baseUrl, client, browser, { scope: 'tools.read tools.write graph.read' })
// graph_me: the service's own outgoing https (to the development Graph stand-in at https://localhost).
const graph = await fetch(`${baseUrl}/mcp`, {
  method: 'POST',
  headers: { authorization: `Bearer ${tokens.body.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'graph_me', arguments: {} } })
})
process.stdout.write(JSON.stringify({
  hsts: health.headers.get('strict-transport-security'),
  tokenStatus: tokens.status,
  issuer: (await (await fetch(`${baseUrl}/.well-known/oauth-authorization-server`)).json()).issuer,
  mcpStatus: await mcpStatus(baseUrl, tokens.body.access_token),
  graphMe: await graph.json(),
  cookies: browser.jar.cookies.map(c => ({ name: c.name, secure: c.secure, domain: c.domain }))
}) + '\n')
