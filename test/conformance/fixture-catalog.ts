// The conformance suite's reference resource and prompts that this server's catalog can express,
// served by the conformance run only, through the real catalog (mcp/catalog.ts), scope checks
// and both eras of /mcp. What it cannot express is excused in the expected-failures files:
// binary resources and resource templates (resources here are JSON documents at fixed URIs) and
// prompt arguments (prompts here take none).
import { definePrompt, defineResource } from '../../mcp/catalog.ts'
import { PNG } from './fixture-tools.ts'

export const fixtureResources = [
  // resources-read-text reads this URI and checks uri, mimeType and text: served as a JSON string
  // (application/json, like every resource of this server).
  defineResource({
    name: 'test_static_text',
    uri: 'test://static-text',
    title: 'Static text',
    description: 'Conformance fixture: a fixed text, as a JSON string.',
    scopes: ['tools.read'],
    cacheHint: { ttlMs: 60_000, cacheScope: 'public' },
    read: () => 'This is the content of the static text resource.'
  })
]

export const fixturePrompts = [
  definePrompt({
    name: 'test_simple_prompt',
    title: 'Simple prompt',
    description: 'Conformance fixture: one user message.',
    scopes: ['tools.read'],
    get: () => 'This is a simple prompt for testing.'
  }),
  definePrompt({
    name: 'test_prompt_with_image',
    title: 'Prompt with image',
    description: 'Conformance fixture: an image message and a text message.',
    scopes: ['tools.read'],
    get: () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } }
      ]
    })
  })
]
