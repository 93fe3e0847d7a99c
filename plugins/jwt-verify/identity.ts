/** Who is calling, as proven by a verified bearer token. Nothing of the raw token is kept. */
export interface Identity {
  /** 'self': a token this service issued; 'entra': an Entra access token for this API. */
  kind: 'self' | 'entra'
  sub: string
  oid?: string
  tid?: string
  name?: string
  preferredUsername?: string
  email?: string
  /** Delegated permissions (our `scope`, Entra's `scp`). */
  scopes: string[]
  /** App roles (Entra `roles`, app-only callers). */
  roles: string[]
  clientId?: string
  /** Self-issued tokens: the grant that holds the user's Entra tokens server-side. */
  grantId?: string
  /** Expiry, epoch seconds. */
  expiresAt: number
}
