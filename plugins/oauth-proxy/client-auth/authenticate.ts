// The one client authentication of the token endpoints (/token, /revoke), after
// panva/node-oidc-provider's lib/shared/client_auth.js: which method the request used (RFC 6749
// §2.3.1 Basic or body secret, RFC 7523 client assertion, or none for a public client), one method
// at a time, and the checks of that method. No Fastify: the registry and the assertion check are
// passed in (plugins/oauth-proxy/client-auth.ts wires them).
import { InvalidClientError, InvalidRequestError } from '../../errors/oauth.ts'
import { parseBasicAuth } from '../../shared/authorization-header.ts'
import type { ClientRecord } from '../clients/metadata.ts'
import type { ClientRegistry } from '../clients/registry.ts'
import { CLIENT_ASSERTION_TYPE } from './assertion-verify.ts'
import type { PrivateKeyJwt } from './private-key-jwt.ts'

/** The client authentication parameters of a /token or /revoke body. */
export interface ClientCredentials {
  client_id?: string
  client_secret?: string
  client_assertion?: string
  client_assertion_type?: string
}

/** What authentication reads of a request: its Authorization header (a FastifyRequest fits). */
export interface ClientAuthRequest {
  headers: { authorization?: string }
}

export interface ClientAuthentication {
  /**
   * The authenticated client: none (public clients), client_secret_basic, client_secret_post or
   * private_key_jwt. Throws 401 `invalid_client` (with a Basic challenge when Basic was tried) or
   * 400 `invalid_request` when two methods are mixed or Basic and the body name different clients.
   */
  authenticate (request: ClientAuthRequest, body: ClientCredentials): Promise<ClientRecord>
}

export interface ClientAuthenticationDeps {
  clients: Pick<ClientRegistry, 'get' | 'authenticate'>
  privateKeyJwt: PrivateKeyJwt
}

const BASIC_CHALLENGE = { 'www-authenticate': 'Basic realm="entra-mcp-gateway", charset="UTF-8"' }

export function createClientAuthentication ({ clients, privateKeyJwt }: ClientAuthenticationDeps): ClientAuthentication {
  /** client_secret_basic, client_secret_post or none: the client named by Basic or the body, and its secret. */
  async function bySecret (basic: { id: string, secret: string } | undefined, body: ClientCredentials): Promise<ClientRecord> {
    const challenge = basic !== undefined ? BASIC_CHALLENGE : undefined
    if (basic !== undefined && body.client_id !== undefined && body.client_id !== basic.id) {
      throw new InvalidRequestError('client_id in the body differs from the Basic credentials')
    }
    const clientId = basic?.id ?? body.client_id
    if (clientId === undefined || clientId === '') throw new InvalidClientError('Client authentication failed: no client_id', challenge)
    const client = await clients.get(clientId)
    if (client === null) throw new InvalidClientError('Client authentication failed: unknown client', challenge)
    if (client.token_endpoint_auth_method === 'private_key_jwt') {
      throw new InvalidClientError(`Client authentication failed: this client authenticates with private_key_jwt (client_assertion_type ${CLIENT_ASSERTION_TYPE} and client_assertion)`, challenge)
    }
    // Public clients pass without a secret; the others need theirs.
    if (!clients.authenticate(client, { clientSecret: basic?.secret ?? body.client_secret })) {
      throw new InvalidClientError('Client authentication failed', challenge)
    }
    return client
  }

  return {
    async authenticate (request, body) {
      const basic = parseBasicAuth(request.headers.authorization)
      if (basic === null) throw new InvalidClientError('The Basic Authorization header is malformed', BASIC_CHALLENGE)
      if (basic !== undefined && body.client_secret !== undefined) {
        throw new InvalidRequestError('Use one client authentication method: Basic or client_secret in the body, not both')
      }
      if (body.client_assertion !== undefined || body.client_assertion_type !== undefined) {
        if (basic !== undefined || body.client_secret !== undefined) {
          throw new InvalidRequestError('Use one client authentication method: a client assertion or a client secret, not both')
        }
        return await privateKeyJwt.authenticate(body)
      }
      return await bySecret(basic, body)
    }
  }
}
