import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

// The user code of the device grant (RFC 8628 §6.1): what a person reads on one screen and types
// on another. Twenty consonants (no vowels, so no words; no 0/O or 1/I to confuse), eight of them
// shown as two groups of four: 20^8, about 2.6e10 codes, against a few guesses per minute per
// address (the rate limits in routes/oauth/device.ts) and a life of minutes.

export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ'
export const USER_CODE_LENGTH = 8

/** A new user code, `WDJB-MJHT` (uniform over the alphabet: bytes that would bias it are skipped). */
export function newUserCode (): string {
  const chars: string[] = []
  const limit = 256 - (256 % USER_CODE_ALPHABET.length)
  while (chars.length < USER_CODE_LENGTH) {
    for (const byte of randomBytes(USER_CODE_LENGTH * 2)) {
      if (byte < limit && chars.length < USER_CODE_LENGTH) chars.push(USER_CODE_ALPHABET[byte % USER_CODE_ALPHABET.length])
    }
  }
  return formatUserCode(chars.join(''))
}

/** `WDJBMJHT` as shown: `WDJB-MJHT`. */
export function formatUserCode (normalised: string): string {
  return `${normalised.slice(0, 4)}-${normalised.slice(4)}`
}

/**
 * What a person typed, as the code it names: case, dashes and white space do not matter
 * (`wdjb mjht`, `WDJB-MJHT`). Null when it cannot be a user code (wrong length or letters),
 * so that no lookup is spent on it.
 */
export function normaliseUserCode (typed: unknown): string | null {
  if (typeof typed !== 'string' || typed.length > 64) return null
  const code = typed.toUpperCase().replace(/[\s\-‐-―]/g, '')
  if (code.length !== USER_CODE_LENGTH) return null
  for (const c of code) if (!USER_CODE_ALPHABET.includes(c)) return null
  return code
}

/**
 * The token of the /device form, bound to the browser: derived from its binding-cookie secret,
 * so a page on another site cannot know it and another browser's token does not fit.
 */
export function deviceFormToken (browserSecret: string): string {
  return createHash('sha256').update(`device-form\0${browserSecret}`).digest('base64url')
}

export function deviceFormTokenMatches (browserSecret: string | undefined, presented: unknown): boolean {
  if (browserSecret === undefined || typeof presented !== 'string') return false
  const a = Buffer.from(deviceFormToken(browserSecret))
  const b = Buffer.from(presented)
  return a.length === b.length && timingSafeEqual(a, b)
}
