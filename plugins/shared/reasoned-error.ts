import createError from '@fastify/error'

/**
 * An @fastify/error class whose errors carry why they happened (`reason`, a stable name for logs,
 * audits and tests) beside a message fit to show a client. `statusCode` is for an error that may
 * reach an error handler; most of these are caught and answered by their own area.
 */
export function reasonedError<R extends string> (code: string, name: string, statusCode?: number) {
  const Base = createError<[string]>(code, '%s', statusCode)
  return class extends Base {
    readonly reason: R
    constructor (reason: R, message: string) {
      super(message)
      this.name = name
      this.reason = reason
    }
  }
}
