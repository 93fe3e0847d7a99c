// Redis command latency and errors from ioredis's own tracing channel (`ioredis:command`, ioredis
// 5.9+ / 6): ioredis publishes on it only while someone subscribes, so with metrics off a command
// costs nothing more. The channel is process-wide: it sees every ioredis client of the process (the
// store's, the rate limiter's: the same one). Only the command name is read, never its arguments.
import { tracingChannel } from 'node:diagnostics_channel'
import { performance } from 'node:perf_hooks'
import type { Metrics } from './registry.ts'
import { boundedLabel } from './labels.ts'

const STARTED = Symbol('metrics.startedAt')
interface CommandContext { command?: string, error?: unknown, [STARTED]?: number }

/** Subscribes; returns the unsubscribe (for onClose). */
export function observeStoreCommands (metrics: Pick<Metrics, 'storeDuration' | 'storeErrors'>): () => void {
  const channel = tracingChannel<CommandContext, CommandContext>('ioredis:command')
  const command = boundedLabel()
  const handlers = {
    start (ctx: CommandContext) { ctx[STARTED] = performance.now() },
    // Published once the command's promise settles, with `error` set when it failed.
    asyncStart (ctx: CommandContext) {
      const started = ctx[STARTED]
      if (started === undefined) return
      const name = command(ctx.command)
      metrics.storeDuration.observe({ command: name }, (performance.now() - started) / 1000)
      if (ctx.error !== undefined) metrics.storeErrors.inc({ command: name })
    }
  }
  channel.subscribe(handlers as any)
  return () => { channel.unsubscribe(handlers as any) }
}
