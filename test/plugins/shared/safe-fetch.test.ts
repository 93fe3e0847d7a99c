import t from 'tap'
import { isPublicAddress, safeFetch, SafeFetchError, type ResolvedAddress } from '../../../plugins/shared/safe-fetch.ts'
import { startMetadataServer, json, METADATA_HOST } from '../../support/metadata-document-server.ts'

const to = (...addresses: string[]) => async (): Promise<ResolvedAddress[]> =>
  addresses.map(address => ({ address, family: address.includes(':') ? 6 : 4 }))
const allowAll = () => true

async function failure (promise: Promise<unknown>): Promise<SafeFetchError> {
  try {
    await promise
  } catch (err) {
    if (err instanceof SafeFetchError) return err
    throw err
  }
  throw new Error('expected a SafeFetchError')
}

t.test('isPublicAddress refuses every non-public range, including IPv6 forms of them', async t => {
  const refused = [
    '10.0.0.1', '172.16.0.1', '172.31.255.254', '192.168.1.1', '127.0.0.1', '127.8.9.10', '169.254.169.254',
    '0.0.0.0', '100.64.0.1', '100.127.255.254', '224.0.0.1', '255.255.255.255', '192.0.2.5', '198.18.0.1',
    '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1',
    '::ffff:169.254.169.254', '64:ff9b::a00:1', '2002:a00:1::1', '2001:db8::1', 'not-an-ip', ''
  ]
  for (const address of refused) t.equal(isPublicAddress(address), false, `${address} is refused`)
  for (const address of ['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
    t.equal(isPublicAddress(address), true, `${address} is public`)
  }
})

t.test('fetches from the vetted address only: the name is never resolved by the system', async t => {
  const server = await startMetadataServer(t)
  server.route('/doc.json', json({ hello: 'world' }, { 'cache-control': 'max-age=120' }))
  let resolutions = 0
  const res = await safeFetch(server.url('/doc.json'), {
    resolve: async (hostname) => { resolutions++; t.equal(hostname, METADATA_HOST); return [{ address: '127.0.0.1', family: 4 }] },
    isAllowedAddress: allowAll,
    ca: server.ca
  })
  t.equal(res.status, 200)
  t.same(JSON.parse(res.body.toString()), { hello: 'world' })
  t.equal(res.headers['cache-control'], 'max-age=120')
  t.equal(resolutions, 1, 'resolved once, then connected to that address')
})

t.test('refuses when any resolved address is not public, before connecting', async t => {
  const server = await startMetadataServer(t)
  server.route('/doc.json', json({}))
  for (const addresses of [['127.0.0.1'], ['169.254.169.254'], ['10.0.0.1'], ['8.8.8.8', '10.0.0.1'], ['::1'], ['::ffff:127.0.0.1']]) {
    const err = await failure(safeFetch(server.url('/doc.json'), { resolve: to(...addresses), ca: server.ca }))
    t.equal(err.reason, 'blocked_address', `${addresses.join(', ')} refused`)
  }
  t.same(server.requests, [], 'no request reached the server')
})

t.test('refuses IP literals in private ranges and real names that resolve to loopback', async t => {
  t.equal((await failure(safeFetch('https://127.0.0.1/x.json'))).reason, 'blocked_address')
  t.equal((await failure(safeFetch('https://[::1]/x.json'))).reason, 'blocked_address')
  t.equal((await failure(safeFetch('https://169.254.169.254/latest/meta-data'))).reason, 'blocked_address')
  t.equal((await failure(safeFetch('https://localhost/x.json'))).reason, 'blocked_address')
})

t.test('refuses http, user information and non-URLs', async t => {
  t.equal((await failure(safeFetch('http://example.com/x.json'))).reason, 'not_https')
  t.equal((await failure(safeFetch('https://user:pw@example.com/x.json'))).reason, 'invalid_url')
  t.equal((await failure(safeFetch('not a url'))).reason, 'invalid_url')
})

t.test('a name that does not resolve is a dns failure', async t => {
  const err = await failure(safeFetch('https://nowhere.invalid/x.json', {
    resolve: async () => { throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' }) }
  }))
  t.equal(err.reason, 'dns')
  t.match(err.message, /ENOTFOUND/)
})

t.test('does not follow redirects', async t => {
  const server = await startMetadataServer(t)
  server.route('/moved.json', (_req, res) => { res.writeHead(302, { location: 'https://169.254.169.254/' }).end() })
  const res = await safeFetch(server.url('/moved.json'), { resolve: to('127.0.0.1'), isAllowedAddress: allowAll, ca: server.ca })
  t.equal(res.status, 302)
  t.same(server.requests, ['/moved.json'], 'one request, the redirect is not followed')
})

t.test('refuses bodies larger than the limit, declared or streamed', async t => {
  const server = await startMetadataServer(t)
  const big = JSON.stringify({ padding: 'x'.repeat(6000) })
  server.route('/declared.json', json(JSON.parse(big)))
  server.route('/chunked.json', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write(big.slice(0, 3000))
    res.end(big.slice(3000))
  })
  const opts = { resolve: to('127.0.0.1'), isAllowedAddress: allowAll, ca: server.ca }
  t.equal((await failure(safeFetch(server.url('/declared.json'), opts))).reason, 'too_large')
  t.equal((await failure(safeFetch(server.url('/chunked.json'), opts))).reason, 'too_large')
  const small = await safeFetch(server.url('/declared.json'), { ...opts, maxBytes: 10000 })
  t.equal(small.status, 200, 'a larger limit lets it through')
})

t.test('gives up after the total timeout on a server that never finishes', async t => {
  const server = await startMetadataServer(t)
  server.route('/slow.json', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.write('{"client_id":') // and never more
  })
  server.route('/silent.json', () => {}) // no headers at all
  const opts = { resolve: to('127.0.0.1'), isAllowedAddress: allowAll, ca: server.ca, timeoutMs: 150 }
  for (const path of ['/slow.json', '/silent.json']) {
    const started = Date.now()
    const err = await failure(safeFetch(server.url(path), opts))
    t.equal(err.reason, 'timeout', `${path} timed out`)
    t.ok(Date.now() - started < 2000, 'bounded by the timeout')
  }
})

t.test('a resolver that hangs is bounded by the same timeout', async t => {
  const err = await failure(safeFetch('https://hangs.example/x.json', { resolve: () => new Promise(() => {}), timeoutMs: 100 }))
  t.equal(err.reason, 'timeout')
})

t.test('a certificate that is not trusted is a network failure', async t => {
  const server = await startMetadataServer(t)
  server.route('/doc.json', json({}))
  const err = await failure(safeFetch(server.url('/doc.json'), { resolve: to('127.0.0.1'), isAllowedAddress: allowAll }))
  t.equal(err.reason, 'network')
})
