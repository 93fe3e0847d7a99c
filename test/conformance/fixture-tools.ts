// The conformance suite's reference tools (as its scenario descriptions specify them), served by
// the conformance run only, through the real transport, scope checks and tool wrapper. They let
// the tools-call scenarios exercise each content type instead of "passing" on a tool-not-found
// error, and give the 2026-07-28 scenarios the diagnostic tools they look for.
import * as z from 'zod'
import { defineTool, toolResult, ToolError, type AnyTool } from '../../mcp/registry.ts'

// 1x1 red PNG and a tiny WAV header, base64.
export const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='
const WAV = 'UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQAAAAA='

const base = { inputSchema: z.object({}), scopes: ['tools.read'] }

export const fixtureTools: AnyTool[] = [
  defineTool({
    ...base,
    name: 'test_simple_text',
    title: 'Simple text',
    description: 'Conformance fixture: returns one text item.',
    handler: () => toolResult({ content: [{ type: 'text', text: 'This is a simple text response for testing.' }] })
  }),
  defineTool({
    ...base,
    name: 'test_image_content',
    title: 'Image content',
    description: 'Conformance fixture: returns a 1x1 PNG.',
    handler: () => toolResult({ content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] })
  }),
  defineTool({
    ...base,
    name: 'test_audio_content',
    title: 'Audio content',
    description: 'Conformance fixture: returns a tiny WAV.',
    handler: () => toolResult({ content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] })
  }),
  defineTool({
    ...base,
    name: 'test_embedded_resource',
    title: 'Embedded resource',
    description: 'Conformance fixture: returns an embedded text resource.',
    handler: () => toolResult({ content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }] })
  }),
  defineTool({
    ...base,
    name: 'test_multiple_content_types',
    title: 'Mixed content',
    description: 'Conformance fixture: returns text, image and resource items.',
    handler: () => toolResult({
      content: [
        { type: 'text', text: 'Multiple content types test:' },
        { type: 'image', data: PNG, mimeType: 'image/png' },
        { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' } }
      ]
    })
  }),
  // server-stateless calls it with elicitation declared and checks that the answer stream carries
  // no request of the server's own: a tool of this server cannot send one (no server-to-client
  // requests on either era), so a plain result is the truthful answer.
  defineTool({
    ...base,
    name: 'test_streaming_elicitation',
    title: 'Streaming elicitation',
    description: 'Conformance fixture: answers with one result and nothing else on the stream.',
    handler: () => toolResult({ content: [{ type: 'text', text: 'No elicitation: this server never sends requests of its own.' }] })
  }),
  // server-stateless checks that no notifications/message is sent when the request set no log
  // level: tools here have no MCP logging at all (they log to the audit log).
  defineTool({
    ...base,
    name: 'test_logging_tool',
    title: 'Logging tool',
    description: 'Conformance fixture: does its work without MCP log messages.',
    handler: (_args, ctx) => {
      ctx.log.info({ fixture: 'test_logging_tool' }, 'conformance fixture ran')
      return toolResult({ content: [{ type: 'text', text: 'Done; logged to the server log only.' }] })
    }
  }),
  // http-custom-header-server-validation: a string parameter mirrored into the `Mcp-Param-Region`
  // header (SEP-2243); the SDK checks header against body before the tool runs.
  defineTool({
    ...base,
    inputSchema: z.object({ region: z.string().meta({ 'x-mcp-header': 'Region' }).describe('A region name, also sent as the Mcp-Param-Region header') }),
    name: 'test_region_header',
    title: 'Region header',
    description: 'Conformance fixture: echoes its region argument (carried in a custom header too).',
    handler: ({ region }) => toolResult({ content: [{ type: 'text', text: `Region: ${region}` }] })
  }),
  // json-schema-2020-12 (SEP-1613, SEP-2106): the listed inputSchema must keep 2020-12 keywords
  // ($defs with $anchor, $ref, allOf/anyOf, if/then/else). zod has no $anchor or if/then/else, so
  // those keywords are metadata here: listed as given, while the arguments are checked by zod
  // (every property optional, nothing else allowed). The scenario only lists the tool.
  defineTool({
    ...base,
    inputSchema: z.strictObject({
      name: z.string().optional(),
      address: z.object({ street: z.string().optional(), city: z.string().optional() }).optional().meta({ $ref: '#/$defs/address' }),
      contactMethod: z.enum(['phone', 'email']).optional(),
      phone: z.string().optional(),
      email: z.string().optional()
    }).meta({
      $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
      allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
      if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
      then: { required: ['phone'] },
      else: { required: ['email'] }
    }),
    name: 'json_schema_2020_12_tool',
    title: 'JSON Schema 2020-12',
    description: 'Tool with JSON Schema 2020-12 features',
    handler: () => toolResult({ content: [{ type: 'text', text: 'ok' }] })
  }),
  defineTool({
    ...base,
    name: 'test_error_handling',
    title: 'Error handling',
    description: 'Conformance fixture: always fails with a tool error.',
    handler: () => { throw new ToolError('This tool intentionally returns an error for testing') }
  })
]
