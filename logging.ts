// How the service's log lines look. JSON lines everywhere (App Service and Azure Monitor read stdout),
// with the level as a word so Log Analytics queries can filter on `level == "warn"`; for a person at a
// terminal under `npm run dev`, pino-pretty's readable lines instead.
import type { DestinationStream, LoggerOptions } from 'pino'

/** `"level":"info"` instead of pino's `"level":30`. */
export const logFormatters: NonNullable<LoggerOptions['formatters']> = {
  level: (label) => ({ level: label })
}

type PrettyFactory = (options: Record<string, unknown>) => DestinationStream

// A variable specifier: pino-pretty is a development dependency, absent from the production install
// (and so from the type checker's view of it). Never imported unless asked for.
const PRETTY = 'pino-pretty'

/** pino-pretty's stream, or null when it is not installed (`npm run dev` then runs with JSON logs). */
export async function prettyStream (load: () => Promise<{ default: PrettyFactory }> = async () => await import(PRETTY)): Promise<DestinationStream | null> {
  try {
    const { default: pretty } = await load()
    return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname' })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err
    return null
  }
}
