import type { IncomingMessage, ServerResponse } from 'node:http'

// Plain node:http answers and body reading for the development identity provider (it runs
// outside Fastify's routing: mounted as a raw handler, or standalone in tests).

const BODY_LIMIT = 56 * 1024

export function sendHtml (res: ServerResponse, status: number, html: string): void {
  res.statusCode = status
  res.setHeader('content-type', 'text/html; charset=utf-8')
  res.setHeader('cache-control', 'no-store')
  res.end(html)
}

export function sendJson (res: ServerResponse, status: number, body: object): void {
  res.statusCode = status
  res.setHeader('content-type', 'application/json; charset=utf-8')
  res.setHeader('cache-control', 'no-store')
  res.end(JSON.stringify(body))
}

export async function readBody (req: IncomingMessage, limit = BODY_LIMIT): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new Error('request body too large')
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}

/**
 * A view of `req` whose body is `body` (the original stream was read to rewrite it). oidc-provider reads
 * the body with `req.iterator()` while `req.readable` is true, readBody with `for await`; everything else
 * goes to the real request.
 */
export function withBody (req: IncomingMessage, body: string): IncomingMessage {
  const buffer = Buffer.from(body)
  req.headers['content-length'] = String(buffer.length)
  delete req.headers['transfer-encoding']
  return new Proxy(req, {
    get (target, prop) {
      if (prop === 'readable') return true
      if (prop === 'readableEncoding') return null
      if (prop === 'iterator' || prop === Symbol.asyncIterator) return () => (async function * () { yield buffer })()
      const value = Reflect.get(target, prop, target)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}
