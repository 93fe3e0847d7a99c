import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { escapeHtml } from '../../plugins/shared/html.ts'
import { CliError } from '../ui/errors.ts'

export const CALLBACK_PATH = '/callback'
export const DEFAULT_SIGNIN_TIMEOUT_MS = 5 * 60 * 1000

export interface CallbackExpectation {
  /** The `state` sent with the authorization request; a callback with another state is ignored. */
  state: string
  /** The authorization server's issuer; when given, a callback's `iss` must equal it (RFC 9207). */
  issuer?: string
  /** The server promised `iss` on every authorization response (authorization_response_iss_parameter_supported). */
  issRequired?: boolean
}

/** The authorization response: the code, and the `iss` it came with (RFC 9207), for auth() to check again. */
export interface Callback {
  code: string
  iss?: string
}

export interface LoopbackListener {
  /** `http://127.0.0.1:{port}/callback` */
  redirectUri: string
  /** Resolves with the authorization code and `iss`, or rejects (cancelled, error from the server, timeout). */
  waitForCode: (expect: CallbackExpectation) => Promise<Callback>
  close: () => Promise<void>
}

function page (res: ServerResponse, status: number, title: string, body: string) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    // The address bar holds the code: never send it on as a Referer.
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff'
  })
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>` +
    '<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}</style></head>' +
    `<body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(body)}</p></body></html>`)
}

type Outcome = { callback: Callback } | { error: CliError }

/** What a callback means for the sign-in waiting on `expect`: the page to show, and the outcome (none: keep waiting). */
export function readCallback (params: URLSearchParams, expect: CallbackExpectation): { page: [number, string, string], outcome?: Outcome } {
  if (params.get('state') !== expect.state) {
    // Not the answer to our request (a stale tab, or another program): ignore it and keep waiting.
    return { page: [400, 'Unknown sign-in', 'This sign-in response does not belong to the running command. Return to the terminal.'] }
  }
  const iss = params.get('iss')
  if (expect.issuer !== undefined && ((iss !== null && iss !== expect.issuer) || (iss === null && expect.issRequired === true))) {
    return {
      page: [400, 'Sign-in refused', 'The response came from an unexpected authorization server.'],
      // The `iss` received may be an attacker's (a mix-up): it is never echoed to the terminal.
      outcome: { error: new CliError('signin_failed', `The sign-in response came from an unexpected authorization server (${iss === null ? 'no iss' : 'another iss'}, expected ${expect.issuer}).`) }
    }
  }
  const error = params.get('error')
  if (error !== null) {
    const description = params.get('error_description') ?? ''
    const detail = description !== '' ? `${error}: ${description}` : error
    const failure = error === 'access_denied'
      ? new CliError('signin_cancelled', `Sign-in was cancelled or consent was denied (${detail}).`)
      : error === 'invalid_scope'
        ? new CliError('scope_refused', `The server refused the requested scopes (${detail}).`)
        : new CliError('signin_failed', `Sign-in failed (${detail}).`)
    return { page: [200, 'Sign-in not completed', `${detail}. You can close this window.`], outcome: { error: failure } }
  }
  const code = params.get('code')
  if (code === null || code === '') {
    return {
      page: [400, 'Sign-in failed', 'The response carried no authorization code.'],
      outcome: { error: new CliError('signin_failed', 'The sign-in response carried no authorization code.') }
    }
  }
  return { page: [200, 'Signed in', 'You are signed in. You can close this window and return to the terminal.'], outcome: { callback: iss !== null ? { code, iss } : { code } } }
}

/** HTTP on 127.0.0.1, port chosen by the system: GET of the callback path goes to `onCallback`, anything else is a 404. */
async function listenOnLoopback (onCallback: (params: URLSearchParams, res: ServerResponse) => void): Promise<{ server: Server, port: number }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    if (req.method !== 'GET' || url.pathname !== CALLBACK_PATH) {
      page(res, 404, 'Not found', 'Nothing here.')
      return
    }
    onCallback(url.searchParams, res)
  })
  server.keepAliveTimeout = 1000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo
  return { server, port }
}

/**
 * The redirect listener of a native app (RFC 8252 §7.3): HTTP on 127.0.0.1 with a port chosen by
 * the system, one path, alive only for one sign-in, bounded by a timeout.
 */
export async function startLoopbackListener ({ timeoutMs = DEFAULT_SIGNIN_TIMEOUT_MS } = {}): Promise<LoopbackListener> {
  let expectation: CallbackExpectation | undefined
  let settle: { resolve: (callback: Callback) => void, reject: (err: Error) => void } | undefined
  // A callback that arrives before waitForCode() is called (a fast browser) is kept here.
  let early: URLSearchParams | undefined

  function handleParams (params: URLSearchParams, res: ServerResponse | undefined): void {
    if (expectation === undefined || settle === undefined) {
      early = params
      if (res !== undefined) page(res, 200, 'Signing in…', 'You can close this window and return to the terminal.')
      return
    }
    const { page: shown, outcome } = readCallback(params, expectation)
    if (res !== undefined) page(res, ...shown)
    if (outcome === undefined) return
    if ('callback' in outcome) settle.resolve(outcome.callback)
    else settle.reject(outcome.error)
  }

  const { server, port } = await listenOnLoopback(handleParams)
  let timer: NodeJS.Timeout | undefined

  return {
    redirectUri: `http://127.0.0.1:${port}${CALLBACK_PATH}`,
    waitForCode (expect) {
      expectation = expect
      return new Promise<Callback>((resolve, reject) => {
        const done = (fn: () => void) => { clearTimeout(timer); settle = undefined; fn() }
        settle = { resolve: callback => done(() => resolve(callback)), reject: err => done(() => reject(err)) }
        timer = setTimeout(() => {
          settle?.reject(new CliError('signin_timeout', `Sign-in timed out: no answer from the browser within ${Math.round(timeoutMs / 1000)} seconds. Run the command again.`))
        }, timeoutMs)
        if (early !== undefined) {
          const params = early
          early = undefined
          handleParams(params, undefined)
        }
      })
    },
    async close () {
      clearTimeout(timer)
      await new Promise<void>(resolve => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    }
  }
}
