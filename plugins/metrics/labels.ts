// Label values kept few and harmless: every value comes from the service's own code (reason
// codes, route patterns, command names), and this is the guard in case one ever does not.

const PLAIN = /^[\w.:/*-]{1,64}$/

/**
 * A label value source bounded to `max` distinct values: a value not seen before once `max` are
 * known becomes `other`, as does anything that is not a short plain word (no spaces, quotes or
 * long strings: a token or a URL with a query never makes it into a label). `undefined` is `none`.
 */
export function boundedLabel (max = 64): (value: unknown) => string {
  const seen = new Set<string>()
  return function label (value: unknown): string {
    if (value === undefined || value === null || value === '') return 'none'
    if (typeof value !== 'string' || !PLAIN.test(value)) return 'other'
    if (seen.has(value)) return value
    if (seen.size >= max) return 'other'
    seen.add(value)
    return value
  }
}
