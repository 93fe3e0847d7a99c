import type { Tool } from '@modelcontextprotocol/client'
import { splitScopes } from './scopes.ts'

const asScopes = (value: unknown): string[] | undefined => {
  if (Array.isArray(value) && value.every(v => typeof v === 'string')) return value as string[]
  if (typeof value === 'string') return splitScopes(value)
  return undefined
}

/**
 * The scopes a tool requires, as the server advertises them: in the tool's `_meta` (a key such as
 * `scopes` / `requiredScopes` / `…/scopes`), or else in its description ("Requires scope: …").
 * Undefined when the server says nothing.
 */
export function requiredScopes (tool: Pick<Tool, 'description' | '_meta'>): string[] | undefined {
  const meta = tool._meta as Record<string, unknown> | undefined
  if (meta !== undefined && meta !== null) {
    for (const [key, value] of Object.entries(meta)) {
      if (/(^|[/.:_-])(required_?)?scopes$/i.test(key) || /^requiredScopes$/.test(key)) {
        const scopes = asScopes(value)
        if (scopes !== undefined) return scopes
      }
    }
  }
  const match = /requires? (?:the )?scopes?:?\s*([\w.:/ ,-]+?)(?:\)|\.(?:\s|$)|$)/im.exec(tool.description ?? '')
  if (match?.[1] !== undefined) return match[1].split(/[\s,]+/).filter(s => s !== '' && s !== 'and')
  return undefined
}

/** True when the granted scopes cover what the tool requires (or the tool names no scope). */
export function mayCall (tool: Pick<Tool, 'description' | '_meta'>, granted: string | undefined): boolean {
  const needed = requiredScopes(tool)
  if (needed === undefined) return true
  const have = new Set(splitScopes(granted))
  return needed.every(s => have.has(s))
}
