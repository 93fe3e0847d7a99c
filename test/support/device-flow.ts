// Steps of the device grant (RFC 8628) for tests: a client registered for it, its device
// authorization request, and a person's browser entering the code. Not a test file itself.
import { registerClient, type TestClient } from './oauth-flow.ts'
import type { Browserless, Page } from './browserless.ts'

export const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'

export async function registerDeviceClient (baseUrl: string, metadata: Record<string, unknown> = {}): Promise<TestClient> {
  return await registerClient(baseUrl, { grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT], client_name: 'Headless CLI', ...metadata })
}

export interface DeviceAnswer { status: number, body: any }

/** POST /device_authorization as the client would. */
export async function requestDeviceCode (baseUrl: string, form: Record<string, string | undefined>, headers: Record<string, string> = {}): Promise<DeviceAnswer> {
  const body = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) if (v !== undefined) body.set(k, v)
  const res = await fetch(`${baseUrl}/device_authorization`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body })
  return { status: res.status, body: await res.json() }
}

/** The person's browser: opens /device and submits `typed` as the code; the page that answers (the consent page when accepted). */
export async function enterUserCode (browser: Browserless, baseUrl: string, typed: string): Promise<Page> {
  const form = await browser.navigate(`${baseUrl}/device`)
  return await browser.submit(form, { label: 'Continue' }, { fields: { user_code: typed } })
}
