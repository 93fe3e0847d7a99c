/** OAuth scope strings (RFC 6749 §3.3: space-separated) as lists, and their union in first-seen order. */
export const splitScopes = (scope: string | undefined): string[] => (scope ?? '').split(' ').filter(s => s !== '')
export const unionScopes = (...scopes: Array<string | undefined>): string => [...new Set(scopes.flatMap(splitScopes))].join(' ')
