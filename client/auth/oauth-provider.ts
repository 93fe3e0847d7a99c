import { randomBytes } from 'node:crypto'
import type {
  OAuthClientInformationContext, OAuthClientMetadata, OAuthClientProvider, OAuthDiscoveryState, StoredOAuthClientInformation, StoredOAuthTokens
} from '@modelcontextprotocol/client'
import { CliError, DEFAULT_PROGRAM, loginCommand } from '../ui/errors.ts'
import { issuerKey, type ServerEntry, type TokenCache } from './token-cache.ts'

export const CLIENT_NAME = 'Entra MCP Gateway CLI'
/** Redirect URI used when no listener runs (only for registration checks; such a flow is never started). */
const IDLE_REDIRECT = 'http://127.0.0.1/callback'

export interface ProviderOptions {
  /** Set during an interactive sign-in: where the browser comes back, and how to send it there. */
  signIn?: {
    redirectUri: string
    open: (authorizationUrl: URL) => void
  }
  now?: () => number
  /** How the person runs this CLI, for the hints in errors (DEFAULT_PROGRAM when unset). */
  program?: string
}

/**
 * The SDK's OAuthClientProvider (v2) for a command-line program: registration, tokens and discovery
 * live in the credentials file (TokenCache); the PKCE verifier and state only in memory, for the
 * one sign-in this process runs.
 *
 * Credentials are kept per authorization server (SEP-2352): the SDK names the issuer it talks to
 * (`ctx.issuer`), and only that issuer's registration and tokens are handed back. Without a
 * `ctx` (the transport's bearer read for the MCP server) it is the latest sign-in's tokens.
 *
 * Outside a sign-in the provider never starts a browser flow: when the SDK wants one, it throws
 * ("not logged in / expired"), and the command decides what to do.
 */
export class CliOAuthProvider implements OAuthClientProvider {
  readonly cache: TokenCache
  readonly server: string
  private readonly opts: ProviderOptions
  private verifier: string | undefined
  private lastState: string | undefined
  private entry: ServerEntry | undefined
  private readonly hadTokens: boolean
  /** The issuer the SDK named last: where an invalidation applies. */
  private issuer: string | undefined
  /** The latest saved sign-in: its access token is the bearer for the MCP server. */
  private latest: ServerEntry | undefined

  constructor (cache: TokenCache, server: string, entry: ServerEntry | undefined, opts: ProviderOptions = {}) {
    this.cache = cache
    this.server = server
    this.entry = entry
    this.opts = opts
    this.hadTokens = entry?.tokens !== undefined
    this.issuer = entry?.issuer
    this.latest = entry
  }

  private get program (): string {
    return this.opts.program ?? DEFAULT_PROGRAM
  }

  private now (): number {
    return this.opts.now?.() ?? Date.now()
  }

  get currentEntry (): ServerEntry | undefined {
    return this.entry
  }

  /** The `state` of the authorization request this provider built last. */
  get sentState (): string | undefined {
    return this.lastState
  }

  get redirectUrl (): string {
    return this.opts.signIn?.redirectUri ?? IDLE_REDIRECT
  }

  get clientMetadata (): OAuthClientMetadata {
    return {
      client_name: CLIENT_NAME,
      redirect_uris: [this.redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      // A native app cannot keep a secret (RFC 8252 §8.4): a public client protected by PKCE.
      token_endpoint_auth_method: 'none',
      software_id: 'entra-mcp-gateway-cli'
    }
  }

  state (): string {
    this.lastState = randomBytes(32).toString('base64url')
    return this.lastState
  }

  /** The cached credentials of `issuer` (the current entry when it is that issuer's). */
  private async credentialsOf (issuer: string | undefined): Promise<ServerEntry | undefined> {
    if (issuer === undefined || this.entry?.issuer === undefined || issuerKey(this.entry.issuer) === issuerKey(issuer)) {
      return this.entry
    }
    return this.cache.get(this.server, issuer)
  }

  /** Notes the issuer the SDK works with now (where saves and invalidations go). */
  private at (ctx: OAuthClientInformationContext | undefined): string | undefined {
    if (ctx?.issuer !== undefined) this.issuer = ctx.issuer
    return ctx?.issuer ?? this.issuer
  }

  async clientInformation (ctx?: OAuthClientInformationContext): Promise<StoredOAuthClientInformation | undefined> {
    const client = (await this.credentialsOf(this.at(ctx)))?.client
    // Outside a sign-in, no registration at an authorization server this CLI never signed in at:
    // auth() would register before asking for a browser, which a command never opens.
    if (client === undefined && ctx !== undefined && this.opts.signIn === undefined) {
      throw new CliError('session_expired', `The sign-in for ${this.server} was made at another authorization server than the one it names now (${ctx.issuer}). Run ${loginCommand(this.program, this.server)} again.`)
    }
    return client
  }

  async saveClientInformation (client: StoredOAuthClientInformation, ctx?: OAuthClientInformationContext): Promise<void> {
    const issuer = this.at(ctx) ?? client.issuer
    this.entry = await this.cache.update(this.server, e => ({ ...e, issuer, client }), { issuer })
  }

  async tokens (ctx?: OAuthClientInformationContext): Promise<StoredOAuthTokens | undefined> {
    // Without ctx: the transport's bearer for the MCP server, from the latest sign-in (SDK contract).
    // A sign-in skips the refresh branch with auth()'s `forceReauthorization`, not by hiding tokens.
    if (ctx === undefined) return this.latest?.tokens
    return (await this.credentialsOf(this.at(ctx)))?.tokens
  }

  async saveTokens (tokens: StoredOAuthTokens, ctx?: OAuthClientInformationContext): Promise<void> {
    const issuer = this.at(ctx) ?? tokens.issuer
    const expiresAt = typeof tokens.expires_in === 'number' ? this.now() + tokens.expires_in * 1000 : undefined
    this.entry = await this.cache.update(this.server, e => ({ ...e, issuer, tokens, expiresAt, scope: tokens.scope ?? e.scope }), { issuer, current: true })
    this.latest = this.entry
  }

  redirectToAuthorization (authorizationUrl: URL): void {
    if (this.opts.signIn !== undefined) {
      this.opts.signIn.open(authorizationUrl)
      return
    }
    if (!this.hadTokens) {
      throw new CliError('not_logged_in', `Not logged in to ${this.server}. Run ${loginCommand(this.program, this.server)} first.`)
    }
    throw new CliError('session_expired', `The sign-in for ${this.server} has expired or was revoked. Run ${loginCommand(this.program, this.server)} again.`)
  }

  saveCodeVerifier (codeVerifier: string): void {
    this.verifier = codeVerifier
  }

  codeVerifier (): string {
    if (this.verifier === undefined) throw new CliError('signin_failed', 'No sign-in is in progress in this process.')
    return this.verifier
  }

  async invalidateCredentials (scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): Promise<void> {
    if (scope === 'verifier') {
      this.verifier = undefined
      return
    }
    if (scope === 'all') {
      // Every authorization server's credentials for this server go.
      await this.cache.delete(this.server)
      this.entry = undefined
      this.latest = undefined
      return
    }
    const issuer = this.issuer
    this.entry = await this.cache.update(this.server, e => {
      if (scope === 'client') return { ...e, client: undefined }
      if (scope === 'discovery') return { ...e, discovery: undefined }
      return { ...e, tokens: undefined, expiresAt: undefined, scope: undefined }
    }, { issuer })
    const sameIssuer = issuer !== undefined && this.latest?.issuer !== undefined && issuerKey(this.latest.issuer) === issuerKey(issuer)
    if (scope === 'tokens' && sameIssuer) this.latest = this.entry
  }

  discoveryState (): OAuthDiscoveryState | undefined {
    return this.entry?.discovery
  }

  async saveDiscoveryState (discovery: OAuthDiscoveryState): Promise<void> {
    this.entry = await this.cache.update(this.server, e => ({ ...e, discovery }), { issuer: this.entry?.issuer })
  }
}
