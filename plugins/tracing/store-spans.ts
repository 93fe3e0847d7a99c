import { tracingChannel } from 'node:diagnostics_channel'
import { context, SpanKind, SpanStatusCode, trace, type Span, type Tracer } from '@opentelemetry/api'

// Child spans for Redis commands, from ioredis' diagnostics tracing channels (ioredis/built/tracing.js).
// A span holds the command's name and the server, never its arguments: keys hold hashes of secrets
// (refresh tokens, codes), values hold sealed Entra tokens. Only commands made while a request span
// is active get one (background pings and reconnects stay out of the traces).

interface CommandMessage { command?: string, batchMode?: string, batchSize?: number, serverAddress?: string, serverPort?: number, error?: unknown }

/** The first word of a Redis error (`NOSCRIPT`, `WRONGTYPE`, `ERR`), or the error's class: never its text. */
export function redisErrorCode (error: unknown): string {
  const message = (error as Error | undefined)?.message ?? ''
  const word = /^[A-Z][A-Z_]{1,30}(?=\s|$)/.exec(message)
  return word !== null ? word[0] : (error as Error | undefined)?.name ?? 'Error'
}

/** Subscribes to `ioredis:command` and `ioredis:batch`; returns the unsubscribe. */
export function traceStoreCommands (tracer: Tracer): () => void {
  const spans = new WeakMap<object, Span>()
  const handlers = {
    start (message: CommandMessage) {
      const parent = context.active()
      if (trace.getSpan(parent) === undefined) return
      const operation = message.command !== undefined ? message.command.toUpperCase() : (message.batchMode ?? 'MULTI')
      spans.set(message, tracer.startSpan(operation, {
        kind: SpanKind.CLIENT,
        attributes: {
          'db.system.name': 'redis',
          'db.operation.name': operation,
          ...(message.batchSize !== undefined ? { 'db.operation.batch.size': message.batchSize } : {}),
          ...(message.serverAddress !== undefined ? { 'server.address': message.serverAddress } : {}),
          ...(message.serverPort !== undefined ? { 'server.port': message.serverPort } : {})
        }
      }, parent))
    },
    error (message: CommandMessage) {
      const span = spans.get(message)
      if (span === undefined) return
      const code = redisErrorCode(message.error)
      span.setAttribute('error.type', code)
      span.setStatus({ code: SpanStatusCode.ERROR, message: code })
    },
    asyncEnd (message: CommandMessage) {
      spans.get(message)?.end()
      spans.delete(message)
    }
  }
  const channels = [tracingChannel('ioredis:command'), tracingChannel('ioredis:batch')]
  for (const channel of channels) channel.subscribe(handlers as never)
  return () => { for (const channel of channels) channel.unsubscribe(handlers as never) }
}
