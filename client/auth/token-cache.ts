import { chmod, mkdir, open, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { OAuthDiscoveryState, StoredOAuthClientInformation, StoredOAuthTokens } from '@modelcontextprotocol/client'

export const APP_DIR = 'entra-mcp-gateway'
export const CACHE_FILE = 'credentials.json'

/** What the CLI keeps from one authorization server (SEP-2352: credentials are bound to the issuer that made them). */
export interface IssuerCredentials {
  /** The client registration, stamped by the SDK (or by us) with the issuer it belongs to. */
  client?: StoredOAuthClientInformation
  /** The last token response, stamped with its issuer. */
  tokens?: StoredOAuthTokens
  /** When the access token expires, in ms since the epoch (from `expires_in` at save time). */
  expiresAt?: number
  /** Scopes granted with the current tokens. */
  scope?: string
}

/**
 * One server's entry as commands see it: the credentials of one authorization server (the
 * issuer of the latest sign-in unless another is asked for), and the server's discovery results.
 */
export interface ServerEntry extends IssuerCredentials {
  /** The authorization server (issuer) these credentials belong to. */
  issuer?: string
  /** Discovery results (protected resource + authorization server metadata), to skip re-discovery. */
  discovery?: OAuthDiscoveryState
  updatedAt?: string
}

/** One server in the file: credentials per authorization server, never mixed. */
export interface StoredServer {
  /** The issuer of the latest saved tokens: the one commands use. */
  issuer?: string
  discovery?: OAuthDiscoveryState
  authorizationServers: Record<string, IssuerCredentials>
  updatedAt?: string
}

export interface CacheFile {
  version: 2
  servers: Record<string, StoredServer>
}

/**
 * The key of an issuer: its identifier without one trailing slash (the SDK compares issuers with
 * that one tolerance, and 1.x stamped `http://host/` where the metadata says `http://host`).
 */
export const issuerKey = (issuer: string): string => issuer.endsWith('/') ? issuer.slice(0, -1) : issuer

const CREDENTIAL_FIELDS = ['client', 'tokens', 'expiresAt', 'scope'] as const

function credentialsOf (entry: IssuerCredentials): IssuerCredentials | undefined {
  const out: IssuerCredentials = {}
  for (const field of CREDENTIAL_FIELDS) if (entry[field] !== undefined) Object.assign(out, { [field]: entry[field] })
  return Object.keys(out).length > 0 ? out : undefined
}

/** A version-1 entry (one flat credential set per server, from the SDK 1.x CLI). */
interface LegacyEntry extends IssuerCredentials { discovery?: OAuthDiscoveryState, updatedAt?: string }

/**
 * Version 1 kept one credential set per server. Each stamped part (the SDK 1.x stamped tokens,
 * this CLI stamped its registrations) moves under the issuer it names; an unstamped part is
 * dropped, since nothing says which authorization server it belongs to (the user signs in again).
 */
export function migrateV1Entry (entry: LegacyEntry): StoredServer {
  const servers: Record<string, IssuerCredentials> = {}
  const tokenIssuer = typeof entry.tokens?.issuer === 'string' ? entry.tokens.issuer : undefined
  const clientIssuer = typeof entry.client?.issuer === 'string' ? entry.client.issuer : undefined
  if (tokenIssuer !== undefined) {
    servers[issuerKey(tokenIssuer)] = { tokens: entry.tokens, expiresAt: entry.expiresAt, scope: entry.scope }
  }
  if (clientIssuer !== undefined) {
    const key = issuerKey(clientIssuer)
    servers[key] = { ...servers[key], client: entry.client }
  }
  return { issuer: tokenIssuer ?? clientIssuer, discovery: entry.discovery, authorizationServers: servers, updatedAt: entry.updatedAt }
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

function viewOf (stored: StoredServer, issuer?: string): ServerEntry {
  const wanted = issuer ?? stored.issuer
  const credentials = wanted !== undefined ? stored.authorizationServers?.[issuerKey(wanted)] : undefined
  return { ...credentials, issuer: wanted, discovery: stored.discovery, updatedAt: stored.updatedAt }
}

function store (stored: StoredServer | undefined, next: ServerEntry, issuer: string | undefined, current: boolean): StoredServer {
  const target = next.issuer ?? issuer
  const servers = { ...stored?.authorizationServers }
  const credentials = credentialsOf(next)
  if (target === undefined) {
    if (credentials !== undefined) throw new Error('Credentials must name the authorization server (issuer) they belong to.')
  } else if (credentials === undefined) {
    delete servers[issuerKey(target)]
  } else {
    servers[issuerKey(target)] = credentials
  }
  const currentIssuer = (current || stored?.issuer === undefined) && target !== undefined ? target : stored?.issuer
  return { issuer: currentIssuer, discovery: next.discovery, authorizationServers: servers, updatedAt: new Date().toISOString() }
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

  /** The whole file; a version-1 file is migrated in memory (written as version 2 on the next update). */
  async read (): Promise<CacheFile> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { version: 2, servers: {} }
      throw err
    }
    try {
      const parsed = JSON.parse(text) as { version?: unknown, servers?: unknown }
      if (parsed === null || typeof parsed !== 'object' || typeof parsed.servers !== 'object' || parsed.servers === null) {
        throw new Error('unexpected shape')
      }
      if (parsed.version === 2) return { version: 2, servers: parsed.servers as Record<string, StoredServer> }
      const servers = Object.fromEntries(Object.entries(parsed.servers as Record<string, LegacyEntry>).map(([k, v]) => [k, migrateV1Entry(v)]))
      return { version: 2, servers }
    } catch (err) {
      throw new Error(`The credentials file ${this.file} is damaged (${(err as Error).message}); delete it and sign in again.`)
    }
  }

  /**
   * The server's entry with the credentials of `issuer`, or of the issuer of the latest saved
   * tokens when none is named; undefined when nothing is cached for the server.
   */
  async get (server: string, issuer?: string): Promise<ServerEntry | undefined> {
    const stored = (await this.read()).servers[serverKey(server)]
    return stored === undefined ? undefined : viewOf(stored, issuer)
  }

  /**
   * Read-modify-write of one server's entry under the lock; `undefined` from `fn` deletes the
   * server with every authorization server's credentials. `fn` sees the credentials of `issuer`
   * (default: the current one); what it returns goes back to the issuer it names (`entry.issuer`,
   * else `issuer`), never to another one. `current` makes that issuer the one commands use.
   */
  async update (server: string, fn: (entry: ServerEntry) => ServerEntry | undefined, { issuer, current = false }: { issuer?: string, current?: boolean } = {}): Promise<ServerEntry | undefined> {
    await this.ensureDir()
    return withFileLock(`${this.file}.lock`, async () => {
      const data = await this.read()
      const key = serverKey(server)
      const stored = data.servers[key]
      const next = fn(stored === undefined ? (issuer !== undefined ? { issuer } : {}) : viewOf(stored, issuer))
      if (next === undefined) {
        delete data.servers[key]
      } else {
        data.servers[key] = store(stored, next, issuer, current)
      }
      await this.write(data)
      return next === undefined ? undefined : viewOf(data.servers[key], next.issuer ?? issuer)
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
