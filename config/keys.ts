import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'

export interface SigningKey {
  kid: string
  privateKey: KeyObject
  /** PKCS#8 PEM: fast-jwt signers take PEM strings. */
  privatePem: string
  publicPem: string
  publicJwk: { kty: 'RSA', n: string, e: string, kid: string, alg: 'RS256', use: 'sig' }
}

/** RFC 7638 thumbprint: a kid that changes whenever the key does, so JWKS caches never mix keys. */
function thumbprint (n: string, e: string): string {
  return createHash('sha256').update(JSON.stringify({ e, kty: 'RSA', n })).digest('base64url')
}

function toSigningKey (privateKey: KeyObject, kid?: string): SigningKey {
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error('keys must be RSA (RS256)')
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < 2048) throw new Error(`RSA keys must be at least 2048 bits (got ${bits})`)
  const publicKey = createPublicKey(privateKey)
  const jwk = publicKey.export({ format: 'jwk' }) as { n: string, e: string }
  const id = kid ?? thumbprint(jwk.n, jwk.e)
  return {
    kid: id,
    privateKey,
    privatePem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicJwk: { kty: 'RSA', n: jwk.n, e: jwk.e, kid: id, alg: 'RS256', use: 'sig' }
  }
}

/**
 * TOKEN_SIGNING_KEY: one or more PKCS#8/PKCS#1 PEM blocks, or a JWK / JWKS of RSA private keys.
 * The first key signs; all of them verify, which is how a key is rotated with overlap.
 * App settings cannot always hold newlines, so a literal "\n" is read as one.
 */
export function parseSigningKeys (raw: string): SigningKey[] {
  const text = raw.includes('\\n') ? raw.replace(/\\n/g, '\n') : raw
  const trimmed = text.trim()
  let keys: SigningKey[]
  if (trimmed.startsWith('{')) {
    let parsed: any
    try {
      parsed = JSON.parse(trimmed)
    } catch {
      throw new Error('is neither PEM nor valid JSON')
    }
    const jwks: any[] = Array.isArray(parsed.keys) ? parsed.keys : [parsed]
    keys = jwks.map((jwk, i) => {
      if (jwk?.kty !== 'RSA' || typeof jwk.d !== 'string') throw new Error(`JWK #${i + 1} is not an RSA private key`)
      return toSigningKey(createPrivateKey({ key: jwk, format: 'jwk' }), typeof jwk.kid === 'string' ? jwk.kid : undefined)
    })
  } else {
    const blocks = trimmed.match(/-----BEGIN (?:RSA )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA )?PRIVATE KEY-----/g)
    if (blocks === null) throw new Error('contains no PEM private key')
    keys = blocks.map(pem => toSigningKey(createPrivateKey(pem)))
  }
  if (keys.length === 0) throw new Error('contains no key')
  if (new Set(keys.map(k => k.kid)).size !== keys.length) throw new Error('has two keys with the same kid')
  return keys
}

/** A key that lives as long as the process: for laptops and single instances only. */
export function generateEphemeralSigningKey (): SigningKey {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return toSigningKey(privateKey)
}

/** TOKEN_ENCRYPTION_KEY: 32 bytes of base64 (standard or url-safe) for AES-256-GCM. */
export function parseEncryptionKey (raw: string): Buffer {
  const key = Buffer.from(raw.trim(), raw.includes('-') || raw.includes('_') ? 'base64url' : 'base64')
  if (key.length !== 32) throw new Error(`must be 32 bytes in base64 (got ${key.length} bytes); make one with: openssl rand -base64 32`)
  return key
}
