import type { FastifyPluginAsync } from 'fastify'
import { escapeHtml } from '../plugins/shared/html.ts'
import { layout, pageHeaders } from './oauth/consent-page.ts'

/**
 * The MCP Inspector release the tests run against this service (test/e2e/inspector.test.ts) and the
 * Node it needs; the landing page and the README give this command.
 */
export const INSPECTOR = { version: '2.12.0', node: '22.19' }
export const inspectorCommand = (mcpUrl: string) => `npx -y @modelcontextprotocol/inspector@${INSPECTOR.version} --cli ${mcpUrl} --method tools/list`

const ENDPOINTS: Array<[path: string, what: string]> = [
  ['/health', 'liveness'],
  ['/health/ready', 'readiness: store, signing key, identity provider metadata'],
  ['/.well-known/oauth-protected-resource/mcp', 'protected resource metadata (RFC 9728)'],
  ['/.well-known/oauth-authorization-server', 'authorization server metadata (RFC 8414)'],
  ['/.well-known/jwks.json', 'the keys that sign access tokens'],
  ['/auth/info', 'this configuration, without secrets']
]

/** GET /: what this service is, the URL to give an MCP client, and where to look next. */
const home: FastifyPluginAsync = async function (fastify) {
  const { config } = fastify
  const endpoints = ENDPOINTS.map(([path, what]) => `<li><a href="${path}"><code>${path}</code></a> <span class="muted">${escapeHtml(what)}</span></li>`).join('')
  const users = config.devIdentityProvider ? fastify.devIdentityProvider.users : []
  const development = users.length === 0
    ? ''
    : `
<h2>Development</h2>
<p class="warn">No Azure settings: sign-in goes to the <strong>development identity provider</strong>. Pick one of these sample users, no password:</p>
<ul id="sample-users">${users.map(u => `<li>${escapeHtml(u.name)} <span class="muted">(${escapeHtml(u.preferredUsername)})</span></li>`).join('')}</ul>
<p>Try it with the MCP Inspector (Node ${INSPECTOR.node} or later):</p>
<p><code id="inspector-command">${escapeHtml(inspectorCommand(config.resource))}</code></p>`
  const page = layout('entra-mcp-gateway', `
<h1>entra-mcp-gateway</h1>
<p>MCP tools over Streamable HTTP, behind an OAuth 2.1 authorization server that signs people in with Microsoft Entra ID.</p>
<h2>Connect an MCP client</h2>
<p>Give your MCP client this URL; it finds out how to sign in by itself:</p>
<p><code id="mcp-url">${escapeHtml(config.resource)}</code></p>
<h2>Endpoints</h2>
<ul id="endpoints">${endpoints}</ul>${development}
<p class="muted">Version ${escapeHtml(config.version)}</p>`)

  fastify.get('/', async (request, reply) => pageHeaders(reply).send(page))
}

export default home
