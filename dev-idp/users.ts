// Test users of the development identity provider. Their object ids (oid) are fixed GUIDs so that
// data keyed by user (grants, audit lines, tool results) stays stable across restarts.

export interface DevUser {
  /** Entra object id: the stable identifier of the user in the tenant. */
  oid: string
  name: string
  /** The user principal name Entra puts in `preferred_username`. */
  preferredUsername: string
  email: string
  /** Conditional Access asks this user for MFA (dev-idp/conditional-access.ts) until a sign-in carries the challenge. */
  needsMfa?: boolean
  /** App roles assigned to the user (Entra's `roles` claim in the id token): Grace holds the admin role. */
  roles?: readonly string[]
}

/** The app role of the admin area's default (ADMIN_ROLE). */
export const DEV_ADMIN_ROLE = 'Gateway.Admin'

export const DEFAULT_USERS: readonly DevUser[] = Object.freeze([
  { oid: '8a0c3f2e-4b1d-4e6a-9f57-1c2d3e4f5a61', name: 'Ada Lovelace', preferredUsername: 'ada@dev-idp.example.com', email: 'ada@dev-idp.example.com' },
  { oid: '3b7d9e1f-2a4c-4d8e-8b6a-5f4e3d2c1b72', name: 'Grace Hopper', preferredUsername: 'grace@dev-idp.example.com', email: 'grace@dev-idp.example.com', roles: [DEV_ADMIN_ROLE] },
  { oid: 'c5e1a7b3-9d2f-4c6e-a8b4-7e6d5c4b3a83', name: 'Alan Turing', preferredUsername: 'alan@dev-idp.example.com', email: 'alan@dev-idp.example.com' },
  { oid: 'e7f3b9d5-1a4c-4e8f-b2d6-9c8b7a6f5e94', name: 'Margaret Hamilton', preferredUsername: 'margaret@dev-idp.example.com', email: 'margaret@dev-idp.example.com', needsMfa: true }
])

/** Finds a user by oid, or by name / username / email (case-insensitive) for test convenience. */
export function findUser (users: readonly DevUser[], key: string): DevUser | undefined {
  const wanted = key.toLowerCase()
  return users.find(u => u.oid === wanted) ??
    users.find(u => u.name.toLowerCase() === wanted || u.preferredUsername.toLowerCase() === wanted || u.email.toLowerCase() === wanted)
}
