// The conformance suite's reference tools (as its scenario descriptions specify them), served by
// the conformance run only, through the real transport, scope checks and tool wrapper. They let
// the tools-call scenarios exercise each content type instead of "passing" on a tool-not-found error.
import * as z from 'zod'
import { defineTool, toolResult, ToolError, type AnyTool } from '../../mcp/registry.ts'

// 1x1 red PNG and a tiny WAV header, base64.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='
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
  defineTool({
    ...base,
    name: 'test_error_handling',
    title: 'Error handling',
    description: 'Conformance fixture: always fails with a tool error.',
    handler: () => { throw new ToolError('This tool intentionally returns an error for testing') }
  })
]
