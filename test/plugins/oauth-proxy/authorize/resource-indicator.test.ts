import t from 'tap'
import { isThisResource, resolveResource } from '../../../../plugins/oauth-proxy/authorize/resource-indicator.ts'

const RESOURCE = 'https://gw.example.com/mcp'

t.test('the resource itself, with a trailing slash, and the service origin name this resource', async t => {
  for (const presented of [RESOURCE, 'https://gw.example.com/mcp/', 'https://gw.example.com', 'https://gw.example.com/', 'HTTPS://GW.example.com/mcp', 'https://gw.example.com:443/mcp']) {
    t.ok(isThisResource(presented, RESOURCE), presented)
  }
})

t.test('another origin, path, port, scheme, a query or a fragment does not', async t => {
  for (const presented of [
    'https://other.example.com/mcp', 'https://gw.example.com.evil.com/mcp', 'http://gw.example.com/mcp', 'https://gw.example.com:8443/mcp',
    'https://gw.example.com/mcp/x', 'https://gw.example.com/mcpx', 'https://gw.example.com/other', 'https://gw.example.com//',
    'https://gw.example.com/mcp?x=1', 'https://gw.example.com/mcp#x', 'https://gw.example.com/mcp?', 'https://gw.example.com/mcp#',
    'gw.example.com/mcp', '/mcp', ''
  ]) {
    t.notOk(isThisResource(presented, RESOURCE), presented || '(empty)')
  }
})

t.test('resolveResource: no resource is MCP; the admin API by its exact URL; anything else is none of ours', async t => {
  const own = { mcp: RESOURCE, admin: 'https://gw.example.com/admin/api' }
  t.equal(resolveResource(undefined, own), RESOURCE)
  t.equal(resolveResource('https://gw.example.com', own), RESOURCE, 'the origin stays the MCP resource (Claude Code)')
  t.equal(resolveResource('https://gw.example.com/admin/api', own), own.admin)
  t.equal(resolveResource('https://gw.example.com/admin/api/', own), own.admin)
  for (const presented of ['https://gw.example.com/admin', 'https://gw.example.com/admin/api/x', 'https://gw.example.com/admin/api?x', 'https://other.example.com/admin/api', 'http://gw.example.com/admin/api']) {
    t.equal(resolveResource(presented, own), undefined, presented)
  }
})
