import { CliError, toCliError } from '../ui/errors.ts'
import type { Output } from '../ui/output.ts'
import { withSession, type Context } from '../auth/session.ts'
import { signIn } from '../auth/sign-in.ts'
import { revokeToken } from '../auth/revoke.ts'
import { splitScopes } from '../auth/scopes.ts'
import { deviceSignIn } from '../auth/device.ts'

/** What the gateway's whoami tool returns (the fields this command prints). */
interface Identity { name?: string | null, username?: string | null, email?: string | null, oid?: string | null, subject?: string }

/** Asks the server who the signed-in user is (best effort: login succeeds without it). */
async function whoIs (ctx: Context): Promise<Identity | undefined> {
  try {
    return await withSession(ctx, async ({ client }) => {
      const result = await client.callTool({ name: 'whoami', arguments: {} })
      if (result.isError === true) return undefined
      return (result.structuredContent as Identity | undefined) ?? undefined
    }, { stepUp: false })
  } catch {
    return undefined
  }
}

export async function login (ctx: Context, out: Output, { scope, device = false }: { scope?: string, device?: boolean }): Promise<number> {
  const entry = device ? await deviceSignIn(ctx, { scope }) : await signIn(ctx, { scope })
  const user = await whoIs(ctx)
  const data = {
    server: ctx.server,
    scope: entry.scope ?? null,
    expiresAt: entry.expiresAt !== undefined ? new Date(entry.expiresAt).toISOString() : null,
    clientId: entry.client?.client_id ?? null,
    user: user ?? null,
    credentials: ctx.cache.file
  }
  out.result(data, () => {
    const label = user?.name ?? user?.username ?? user?.oid ?? user?.subject
    const detail = user?.name != null && user.username != null ? ` (${user.username})` : ''
    const who = label != null ? ` as ${label}${detail}` : ''
    return [
      `Signed in to ${ctx.server}${who}.`,
      `Scopes: ${splitScopes(entry.scope).join(', ') || '(none reported)'}`,
      `Credentials saved in ${ctx.cache.file} (readable only by you).`
    ].join('\n')
  })
  return 0
}

export async function logout (ctx: Context, out: Output): Promise<number> {
  const entry = await ctx.cache.get(ctx.server)
  if (entry === undefined) {
    out.result({ server: ctx.server, revoked: false, deleted: false }, () => `Not logged in to ${ctx.server}; nothing to do.`)
    return 0
  }
  let failure: CliError | undefined
  try {
    // Revoking the refresh token ends the grant (and every access token of it) at the server;
    // the access token is revoked as well in case the server keeps them apart.
    if (entry.tokens?.refresh_token !== undefined) await revokeToken(ctx, entry, entry.tokens.refresh_token, 'refresh_token')
    if (entry.tokens?.access_token !== undefined) await revokeToken(ctx, entry, entry.tokens.access_token, 'access_token')
  } catch (err) {
    failure = toCliError(err, ctx.server)
  }
  await ctx.cache.delete(ctx.server)
  if (failure !== undefined) {
    throw new CliError(failure.kind, `Deleted the local credentials for ${ctx.server}, but the server did not confirm the revocation: ${failure.message}`)
  }
  out.result({ server: ctx.server, revoked: entry.tokens !== undefined, deleted: true }, () => `Signed out of ${ctx.server}: tokens revoked and local credentials deleted.`)
  return 0
}

/** What the cache holds for the server; no network. */
export async function status (ctx: Context, out: Output): Promise<number> {
  const entry = await ctx.cache.get(ctx.server)
  const loggedIn = entry?.tokens !== undefined
  const data = {
    server: ctx.server,
    loggedIn,
    scope: entry?.scope ?? null,
    accessTokenExpiresAt: entry?.expiresAt !== undefined ? new Date(entry.expiresAt).toISOString() : null,
    refreshable: entry?.tokens?.refresh_token !== undefined,
    clientId: entry?.client?.client_id ?? null,
    credentials: ctx.cache.file
  }
  out.result(data, () => loggedIn
    ? [
        `Logged in to ${ctx.server}.`,
        `Scopes: ${splitScopes(data.scope ?? undefined).join(', ') || '(none reported)'}`,
        `Access token expires: ${data.accessTokenExpiresAt ?? 'unknown'}${data.refreshable ? ' (refreshed automatically)' : ''}`,
        `Client id: ${data.clientId ?? 'unknown'}`,
        `Credentials: ${ctx.cache.file}`
      ].join('\n')
    : `Not logged in to ${ctx.server}.`)
  return loggedIn ? 0 : 3
}
