import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'
import createError from '@fastify/error'

// AES-256-GCM for Entra's tokens at rest. A sealed value is `v1.{iv}.{ciphertext}.{tag}` in base64url.
// The associated data (for instance the grant id) binds a ciphertext to the record it belongs to,
// so a sealed blob copied into another grant does not decrypt.
const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

const TokenDecryptionBase = createError('FST_TOKEN_DECRYPTION', 'The sealed value cannot be decrypted (wrong key, wrong record or tampered)')

export class TokenDecryptionError extends TokenDecryptionBase {
  constructor () {
    super()
    this.name = 'TokenDecryptionError'
  }
}

export interface TokenCipher {
  seal (plaintext: string, associatedData?: string): string
  open (sealed: string, associatedData?: string): string
}

export function createTokenCipher (key: Buffer): TokenCipher {
  if (key.length !== 32) throw new Error('AES-256-GCM needs a 32-byte key')
  const aesKey = Buffer.from(key)
  return {
    seal (plaintext, associatedData = '') {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv('aes-256-gcm', aesKey, iv, { authTagLength: TAG_BYTES })
      cipher.setAAD(Buffer.from(associatedData, 'utf8'))
      const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
      return [VERSION, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
    },
    open (sealed, associatedData = '') {
      const parts = sealed.split('.')
      if (parts.length !== 4 || parts[0] !== VERSION) throw new TokenDecryptionError()
      const iv = Buffer.from(parts[1], 'base64url')
      const tag = Buffer.from(parts[3], 'base64url')
      if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new TokenDecryptionError()
      try {
        const decipher = createDecipheriv('aes-256-gcm', aesKey, iv, { authTagLength: TAG_BYTES })
        decipher.setAAD(Buffer.from(associatedData, 'utf8'))
        decipher.setAuthTag(tag)
        return Buffer.concat([decipher.update(Buffer.from(parts[2], 'base64url')), decipher.final()]).toString('utf8')
      } catch {
        throw new TokenDecryptionError()
      }
    }
  }
}

/**
 * Derives an independent key for one purpose from the configured TOKEN_ENCRYPTION_KEY (HKDF-SHA256),
 * so one secret can serve encryption and cookie signing without the two uses ever sharing a key.
 */
export function deriveKey (master: Buffer, purpose: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `entra-mcp-gateway:${purpose}`, length))
}

/** A random key for a single process (no TOKEN_ENCRYPTION_KEY configured). */
export function ephemeralKey (): Buffer {
  return randomBytes(32)
}
