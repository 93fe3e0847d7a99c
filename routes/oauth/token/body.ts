import Type from 'typebox'

const Param = (maxLength = 4096) => Type.Optional(Type.String({ maxLength }))

/** The parameters POST /token reads, of every grant type and client authentication method. */
export const TokenBody = Type.Object({
  grant_type: Param(200),
  code: Param(),
  redirect_uri: Param(2000),
  code_verifier: Param(200),
  device_code: Param(200),
  refresh_token: Param(),
  scope: Param(1000),
  resource: Param(2000),
  client_id: Param(2000),
  client_secret: Param(500),
  client_assertion: Param(8192),
  client_assertion_type: Param(200)
})
