// `login --device` end to end with the development identity provider: the CLI (in process, as a
// headless machine would run it) prints an address and a code and polls; a separate cookie jar is
// the person's browser on another device.
import t from 'tap'
import { buildListening } from '../helper.ts'
import { run } from '../../client/run.ts'
import { deviceSignIn } from '../../client/auth/device.ts'
import type { Context } from '../../client/auth/session.ts'
import { Browserless, signInChoice } from '../support/browserless.ts'
import { auditEvents, cacheFor, headlessBrowser, runCli, tempConfigHome } from '../support/cli.ts'
import { enterUserCode } from '../support/device-flow.ts'

const logs: string[] = []
const { baseUrl } = await buildListening(t, {}, { logs })
const server = `${baseUrl}/mcp`

/** Runs `login --device`; `onCode` is the person at the other device, called once the code is printed. */
async function deviceLogin (xdg: string, onCode: (url: string, code: string, complete: string) => Promise<void>) {
  let stdout = ''
  let stderr = ''
  let person: Promise<void> | undefined
  const code = await run(['login', '--device', '--server', server], {
    env: { XDG_CONFIG_HOME: xdg },
    openUrl: async () => { throw new Error('login --device must not try to open a browser') },
    stdout: { write: (s: string) => { stdout += s } },
    stderr: {
      write: (s: string) => {
        stderr += s
        const printed = /open this address[^\n]*\n\s*\n\s+(\S+)\s*\n\s*\nand enter the code:\s+([A-Z]{4}-[A-Z]{4})[\s\S]*?or open (\S+) and confirm/.exec(stderr)
        if (printed !== null && person === undefined) person = onCode(printed[1], printed[2], printed[3])
      }
    }
  })
  await person
  return { code, stdout, stderr, personAsked: person !== undefined }
}

t.test('login --device prints the address and the code, polls, and ends like login with the tokens cached', async t => {
  const xdg = await tempConfigHome(t)
  const browser = new Browserless()
  const res = await deviceLogin(xdg, async (url, userCode, complete) => {
    t.equal(url, `${baseUrl}/device`)
    t.equal(complete, `${baseUrl}/device?user_code=${userCode}`)
    const consent = await enterUserCode(browser, baseUrl, userCode)
    t.match(consent.body, /Continue only if you started this sign-in yourself/)
    await browser.submit(await browser.submit(consent, { name: 'decision', value: 'approve' }), signInChoice('Grace Hopper'))
  })
  t.ok(res.personAsked, 'the code was printed')
  t.equal(res.code, 0, res.stderr)
  t.match(res.stdout, /Signed in to .* as Grace Hopper \(grace@/)
  const entry = await cacheFor(xdg).get(server)
  t.ok(entry?.tokens?.access_token)
  t.ok(entry?.tokens?.refresh_token, 'a refresh token, as the code flow gives')
  t.match(entry?.client, { grant_types: ['refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'], redirect_uris: [], response_types: [] }, 'registered device-only: no redirect URI, no code grant')
  t.ok(auditEvents(logs, 'device.approved').length >= 1)

  const whoami = await run(['whoami', '--json', '--server', server], { env: { XDG_CONFIG_HOME: xdg }, stdout: { write: (s: string) => { t.match(JSON.parse(s), { name: 'Grace Hopper' }) } }, stderr: { write: () => {} } })
  t.equal(whoami, 0, 'later commands use the cached sign-in')
})

t.test('after login --device, a browser login on the same machine registers anew for the code flow (the device-only registration cannot use it)', async t => {
  const xdg = await tempConfigHome(t)
  const person = new Browserless()
  const device = await deviceLogin(xdg, async (_url, userCode) => {
    await person.submit(await person.submit(await enterUserCode(person, baseUrl, userCode), { name: 'decision', value: 'approve' }), signInChoice('Grace Hopper'))
  })
  t.equal(device.code, 0, device.stderr)
  const deviceClient = (await cacheFor(xdg).get(server))?.client
  const browser = headlessBrowser({ user: 'Grace Hopper' })
  const login = await runCli(['login', '--server', server], { env: { XDG_CONFIG_HOME: xdg }, openUrl: browser.openUrl })
  t.equal(login.code, 0, login.stderr)
  t.equal(browser.opened[0]?.pathname, '/authorize')
  t.not(browser.opened[0]?.searchParams.get('client_id'), deviceClient?.client_id, '/authorize was asked for a new client, not the device-only one')
  t.match((await cacheFor(xdg).get(server))?.client, { grant_types: ['authorization_code', 'refresh_token'], redirect_uris: [/^http:\/\/127\.0\.0\.1:/] })
})

t.test('login --device ends with exit code 3 and nothing saved when the person denies', async t => {
  const xdg = await tempConfigHome(t)
  const res = await deviceLogin(xdg, async (_url, userCode) => {
    const browser = new Browserless()
    await browser.submit(await enterUserCode(browser, baseUrl, userCode), { name: 'decision', value: 'deny' })
  })
  t.equal(res.code, 3)
  t.match(res.stderr, /denied in the browser/)
  t.equal((await cacheFor(xdg).get(server))?.tokens, undefined)
})

t.test('the CLI keeps the interval and adds 5 s after each slow_down (RFC 8628 §3.5)', async t => {
  const xdg = await tempConfigHome(t)
  const lines: string[] = []
  const ctx: Context = {
    server,
    cache: cacheFor(xdg),
    openUrl: async () => false,
    now: Date.now,
    signInTimeoutMs: 60_000,
    protocol: 'auto',
    fetch: async (url, init) => await fetch(url, init),
    notify: line => { lines.push(line) },
    program: 'entra-mcp-client'
  }
  const waits: number[] = []
  // The waits return at once, so the polls come faster than the server allows: it answers
  // slow_down, and the CLI must wait longer each time. Before the third poll, the person approves.
  const sleep = async (ms: number) => {
    waits.push(ms)
    if (waits.length === 3) {
      const userCode = /enter the code:\s+([A-Z]{4}-[A-Z]{4})/.exec(lines.join('\n'))?.[1] as string
      const browser = new Browserless()
      await browser.submit(await browser.submit(await enterUserCode(browser, baseUrl, userCode), { name: 'decision', value: 'approve' }), signInChoice('Ada Lovelace'))
    }
  }
  const entry = await deviceSignIn(ctx, { sleep })
  t.same(waits, [5000, 5000, 10000], 'the interval, the interval again (too soon for the server), then 5 s more')
  t.ok(entry.tokens?.access_token)
})
