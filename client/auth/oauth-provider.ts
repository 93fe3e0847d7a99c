import { randomBytes } from 'node:crypto'
import type { OAuthClientProvider, OAuthDiscoveryState } from '@modelcontextprotocol/sdk/client/auth.js'
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js'
import { CliError, StepUpRequired, DEFAULT_PROGRAM, loginCommand } from '../ui/errors.ts'
import type { ServerEntry, TokenCache } from './token-cache.ts'

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
 * The SDK's OAuthClientProvider for a command-line program: registration, tokens and discovery
 * live in the credentials file (TokenCache); the PKCE verifier and state only in memory, for the
 * one sign-in this process runs.
 *
 * Outside a sign-in the provider never starts a browser flow: when the SDK wants one, it throws
 * (StepUpRequired when the server asked for more scopes, otherwise "not logged in / expired"),
 * and the command decides what to do.
 */
export class CliOAuthProvider implements OAuthClientProvider {
  readonly cache: TokenCache
  readonly server: string
  private readonly opts: ProviderOptions
  private verifier: string | undefined
  private lastState: string | undefined
  private entry: ServerEntry | undefined
  private readonly hadTokens: boolean
  /** Set by the transport's fetch wrapper when /mcp answered 403 insufficient_scope. */
  stepUpScope: string | undefined

  constructor (cache: TokenCache, server: string, entry: ServerEntry | undefined, opts: ProviderOptions = {}) {
    this.cache = cache
    this.server = server
    this.entry = entry
    this.opts = opts
    this.hadTokens = entry?.tokens !== undefined
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

  clientInformation (): OAuthClientInformationMixed | undefined {
    return this.entry?.client
  }

  async saveClientInformation (client: OAuthClientInformationMixed): Promise<void> {
    this.entry = await this.cache.update(this.server, e => ({ ...e, client }))
  }

  tokens (): OAuthTokens | undefined {
    const tokens = this.entry?.tokens
    if (tokens === undefined) return undefined
    // A sign-in must reach the authorization endpoint, and so must a step-up: a refresh would only
    // return the scopes already granted. Hiding the refresh token makes auth() start a new authorization.
    if (this.opts.signIn !== undefined || this.stepUpScope !== undefined) {
      const { refresh_token: _unused, ...rest } = tokens
      return rest
    }
    return tokens
  }

  async saveTokens (tokens: OAuthTokens): Promise<void> {
    const expiresAt = typeof tokens.expires_in === 'number' ? this.now() + tokens.expires_in * 1000 : undefined
    this.entry = await this.cache.update(this.server, e => ({ ...e, tokens, expiresAt, scope: tokens.scope ?? e.scope }))
  }

  redirectToAuthorization (authorizationUrl: URL): void {
    if (this.opts.signIn !== undefined) {
      this.opts.signIn.open(authorizationUrl)
      return
    }
    if (this.stepUpScope !== undefined) throw new StepUpRequired(this.stepUpScope)
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
    this.entry = await this.cache.update(this.server, e => {
      if (scope === 'all') return {}
      if (scope === 'client') return { ...e, client: undefined }
      if (scope === 'discovery') return { ...e, discovery: undefined }
      return { ...e, tokens: undefined, expiresAt: undefined, scope: undefined }
    })
  }

  discoveryState (): OAuthDiscoveryState | undefined {
    return this.entry?.discovery
  }

  async saveDiscoveryState (discovery: OAuthDiscoveryState): Promise<void> {
    this.entry = await this.cache.update(this.server, e => ({ ...e, discovery }))
  }
}
