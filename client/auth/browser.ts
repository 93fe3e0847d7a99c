import { spawn } from 'node:child_process'

/** Opens a URL in the user's browser; resolves false when there is no way to (the URL is printed anyway). */
export type OpenUrl = (url: string) => Promise<boolean | void>

/** The command that opens a URL on this platform, or undefined when there is no graphical session. */
export function browserCommand (url: string, platform: NodeJS.Platform, env: Record<string, string | undefined>): { cmd: string, args: string[] } | undefined {
  if (env.BROWSER === 'none') return undefined
  if (env.BROWSER !== undefined && env.BROWSER !== '') return { cmd: env.BROWSER, args: [url] }
  if (platform === 'darwin') return { cmd: 'open', args: [url] }
  // rundll32 avoids cmd.exe parsing the URL (`start` would cut it at the first &).
  if (platform === 'win32') return { cmd: 'rundll32', args: ['url.dll,FileProtocolHandler', url] }
  const graphical = (env.DISPLAY ?? '') !== '' || (env.WAYLAND_DISPLAY ?? '') !== ''
  return graphical ? { cmd: 'xdg-open', args: [url] } : undefined
}

/** The real opener used by the CLI entry: xdg-open / open / rundll32, detached, no shell. */
export function systemBrowser (env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): OpenUrl {
  return async (url) => {
    const command = browserCommand(url, platform, env)
    if (command === undefined) return false
    return new Promise<boolean>(resolve => {
      try {
        const child = spawn(command.cmd, command.args, { detached: true, stdio: 'ignore', shell: false })
        child.once('error', () => resolve(false))
        child.once('spawn', () => { child.unref(); resolve(true) })
      } catch {
        resolve(false)
      }
    })
  }
}
