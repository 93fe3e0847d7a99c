// Headless Chromium for the browser tests (playwright-core with Debian's /usr/bin/chromium; the launch
// flags that work on these machines: ../shared/pitfalls.md) and where their screenshots go (gitignored).
import { mkdirSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
export const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
export const SCREENSHOTS = '.tap/screenshots'

export async function launchChromium (): Promise<Browser> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  return await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS, headless: true })
}

/** One browser for a test file: launched before its first test, closed at its end; the getter gives it. */
export function browserForFile (t: { before: (fn: () => unknown) => void, teardown: (fn: () => unknown) => void }): () => Browser {
  let browser: Browser | undefined
  t.before(async () => { browser = await launchChromium() })
  t.teardown(async () => { await browser?.close() })
  return () => browser as Browser
}
