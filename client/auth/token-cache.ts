import { chmod, mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { OAuthClientInformationMixed, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import type { OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js'

export const APP_DIR = 'entra-mcp-gateway'
export const CACHE_FILE = 'credentials.json'

/** What the CLI keeps for one MCP server (keyed by its URL). */
export interface ServerEntry {
  /** The client registration (dynamic registration result), stored as the SDK handed it over. */
  client?: OAuthClientInformationMixed
  /** The last token response, stored as the SDK handed it over (it carries `issuer`). */
  tokens?: OAuthTokens
  /** When the access token expires, in ms since the epoch (from `expires_in` at save time). */
  expiresAt?: number
  /** Scopes granted with the current tokens. */
  scope?: string
  /** Discovery results (protected resource + authorization server metadata), to skip re-discovery. */
  discovery?: OAuthDiscoveryState
  updatedAt?: string
}

export interface CacheFile {
  version: 1
  servers: Record<string, ServerEntry>
}

/** `$XDG_CONFIG_HOME/entra-mcp-gateway` or `~/.config/entra-mcp-gateway` (`%APPDATA%` on Windows). */
export function configDir (env: Record<string, string | undefined>, platform: NodeJS.Platform = process.platform): string {
  const xdg = env.XDG_CONFIG_HOME
  if (xdg !== undefined && xdg !== '' && xdg.startsWith('/')) return join(xdg, APP_DIR)
  if (platform === 'win32' && env.APPDATA !== undefined && env.APPDATA !== '') return join(env.APPDATA, APP_DIR)
  return join(env.HOME ?? homedir(), '.config', APP_DIR)
}

/** The cache key of a server: its URL, normalised (scheme and host lower-case, no fragment). */
export function serverKey (server: string): string {
  const url = new URL(server)
  url.hash = ''
  return url.href
}

const sleep = (ms: number) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * An exclusive lock file next to the cache (O_EXCL create), so two CLI processes never write the
 * cache at once, nor both spend the same refresh token (the server would see a reuse and revoke
 * the whole grant). A lock older than `staleMs` is taken over (its holder died).
 */
export async function withFileLock<T> (path: string, fn: () => Promise<T>, { waitMs = 15_000, staleMs = 30_000 } = {}): Promise<T> {
  const started = Date.now()
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.close()
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const info = await stat(path).catch(() => undefined)
      if (info !== undefined && Date.now() - info.mtimeMs > staleMs) {
        await unlink(path).catch(() => {})
        continue
      }
      if (Date.now() - started > waitMs) throw new Error(`Another entra-mcp-client process holds ${path}; try again (or delete the file if no other process runs).`)
      await sleep(25 + Math.floor(Math.random() * 50))
    }
  }
  try {
    return await fn()
  } finally {
    await unlink(path).catch(() => {})
  }
}

/**
 * The credentials file: one JSON document, mode 0600 in a 0700 folder, replaced atomically
 * (written to a private temporary file, then renamed) so a crash never leaves half a file.
 */
export class TokenCache {
  readonly dir: string
  readonly file: string

  constructor (dir: string) {
    this.dir = dir
    this.file = join(dir, CACHE_FILE)
  }

  async read (): Promise<CacheFile> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, servers: {} }
      throw err
    }
    try {
      const parsed = JSON.parse(text) as CacheFile
      if (parsed === null || typeof parsed !== 'object' || typeof parsed.servers !== 'object' || parsed.servers === null) {
        throw new Error('unexpected shape')
      }
      return { version: 1, servers: parsed.servers }
    } catch (err) {
      throw new Error(`The credentials file ${this.file} is damaged (${(err as Error).message}); delete it and sign in again.`)
    }
  }

  async get (server: string): Promise<ServerEntry | undefined> {
    return (await this.read()).servers[serverKey(server)]
  }

  /** Read-modify-write of one server's entry under the lock; `undefined` from `fn` deletes it. */
  async update (server: string, fn: (entry: ServerEntry) => ServerEntry | undefined): Promise<ServerEntry | undefined> {
    await this.ensureDir()
    return withFileLock(`${this.file}.lock`, async () => {
      const data = await this.read()
      const key = serverKey(server)
      const next = fn({ ...(data.servers[key] ?? {}) })
      if (next === undefined) {
        delete data.servers[key]
      } else {
        data.servers[key] = { ...next, updatedAt: new Date().toISOString() }
      }
      await this.write(data)
      return next
    })
  }

  async delete (server: string): Promise<void> {
    await this.update(server, () => undefined)
  }

  /** Serialises refreshes of one cache across processes (see withFileLock). */
  async withRefreshLock<T> (fn: () => Promise<T>): Promise<T> {
    await this.ensureDir()
    return withFileLock(`${this.file}.refresh.lock`, fn, { waitMs: 60_000, staleMs: 60_000 })
  }

  private async ensureDir (): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 })
    // An existing folder may have been created by someone else with a looser mode.
    await chmod(this.dir, 0o700)
  }

  private async write (data: CacheFile): Promise<void> {
    if (Object.keys(data.servers).length === 0) {
      await rm(this.file, { force: true })
      return
    }
    const tmp = join(this.dir, `.${CACHE_FILE}.${randomBytes(6).toString('hex')}.tmp`)
    try {
      await writeFile(tmp, JSON.stringify(data, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
      await chmod(tmp, 0o600)
      await rename(tmp, this.file)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
  }
}
