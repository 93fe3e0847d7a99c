// Fixed identifiers of the embedded development identity provider (DEV_IDENTITY_PROVIDER).
// They are public on purpose: the provider only runs when no Azure tenant is configured.
export const DEV_TENANT_ID = '0d3e5f4a-1c2b-4d6e-8f70-9a1b2c3d4e5f'
export const DEV_CLIENT_ID = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f70819'
export const DEV_CLIENT_SECRET = 'development-only-client-secret'
