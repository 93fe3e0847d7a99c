// Shapes of identifiers the service reads from configuration and from tokens alike.

/** A GUID as Entra writes tenant and object ids (any case). */
export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** One OAuth scope token (RFC 6749 §3.3: printable ASCII but space, `"` and `\`). */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/
