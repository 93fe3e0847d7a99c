import { defineResource, RESOURCE_SCHEME } from '../catalog.ts'

export default defineResource({
  name: 'me',
  uri: `${RESOURCE_SCHEME}://me`,
  title: 'Signed-in user',
  description: 'Who this connection acts for: name, user principal name, e-mail, object and tenant ids, and the scopes and app roles the current sign-in grants. Never any token.',
  scopes: ['tools.read'],
  // Differs per caller and per sign-in (a step-up changes the scopes): never shared, never reused.
  cacheHint: { ttlMs: 0, cacheScope: 'private' },
  read ({ identity }) {
    return {
      // Absent claims are left out rather than sent as null.
      ...(identity.name !== undefined ? { name: identity.name } : {}),
      ...(identity.preferredUsername !== undefined ? { upn: identity.preferredUsername } : {}),
      ...(identity.email !== undefined ? { email: identity.email } : {}),
      ...(identity.oid !== undefined ? { oid: identity.oid } : {}),
      ...(identity.tid !== undefined ? { tid: identity.tid } : {}),
      scopes: [...identity.scopes],
      roles: [...identity.roles]
    }
  }
})
