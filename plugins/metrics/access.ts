import { createHash, timingSafeEqual } from 'node:crypto'
import { parseAuthorization } from '../shared/authorization-header.ts'

const digest = (value: string) => createHash('sha256').update(value).digest()

/**
 * Whether an Authorization header is `Bearer <expected>`. Both sides are hashed to the same length
 * first, so the comparison takes the same time whatever the caller sends (timingSafeEqual needs
 * equal lengths, and comparing lengths would tell the token's length).
 */
export function createBearerCheck (expected: string): (header: string | string[] | undefined) => boolean {
  const wanted = digest(expected)
  return function carriesToken (header) {
    const parsed = parseAuthorization(header)
    return parsed.kind === 'bearer' && timingSafeEqual(digest(parsed.token), wanted)
  }
}
