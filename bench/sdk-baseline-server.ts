// The baseline of bench/mcp.bench.ts: the MCP SDK's own stateless Streamable HTTP example
// (examples/server/simpleStatelessStreamableHttp in @modelcontextprotocol/sdk: a new McpServer and
// transport per request, closed when the response closes) behind the SDK's `requireBearerAuth`
// middleware, with a verifier checking the same RS256 JWTs as the service (signature, issuer,
// audience, expiry; no cache). The example's per-request console.log lines are left out.
// Started as a child process by the bench: BASELINE_PORT, BASELINE_PUBLIC_KEY (PEM), BASELINE_ISSUER.
import { createVerifier } from 'fast-jwt'
import * as z from 'zod'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'

const port = Number(process.env.BASELINE_PORT ?? 3000)
const issuer = process.env.BASELINE_ISSUER ?? `http://127.0.0.1:${port}`
const publicKey = process.env.BASELINE_PUBLIC_KEY ?? ''

const verify = createVerifier({ key: publicKey, algorithms: ['RS256'], allowedIss: issuer, allowedAud: `${issuer}/mcp`, cache: false })

const verifier = {
  async verifyAccessToken (token: string): Promise<AuthInfo> {
    let claims: Record<string, any>
    try {
      claims = verify(token)
    } catch (err) {
      throw new InvalidTokenError((err as Error).message)
    }
    return {
      token,
      clientId: claims.client_id,
      scopes: String(claims.scope ?? '').split(' ').filter(Boolean),
      expiresAt: claims.exp,
      extra: { oid: claims.oid, tid: claims.tid, name: claims.name }
    }
  }
}

const getServer = () => {
  const server = new McpServer({ name: 'stateless-streamable-http-server', version: '1.0.0' }, { capabilities: { logging: {} } })
  server.registerTool('whoami', {
    title: 'Who am I',
    description: 'The caller identity',
    inputSchema: z.object({})
  }, async (_args, extra) => ({
    content: [{ type: 'text', text: JSON.stringify({ client_id: extra.authInfo?.clientId, scopes: extra.authInfo?.scopes, ...extra.authInfo?.extra }) }]
  }))
  return server
}

const app = createMcpExpressApp()
app.post('/mcp', requireBearerAuth({ verifier, requiredScopes: ['tools.read'] }), async (req, res) => {
  const server = getServer()
  try {
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
    res.on('close', () => {
      transport.close()
      server.close()
    })
  } catch {
    if (!res.headersSent) res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null })
  }
})
app.get('/health', (_req, res) => { res.json({ status: 'ok' }) })

app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`baseline listening on ${port}\n`)
})
