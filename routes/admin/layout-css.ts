import { readFileSync } from 'node:fs'
import type { FastifyPluginAsync } from 'fastify'
import { LAYOUT_CSS_URL } from './layout.ts'

// The layout's style sheet (assets/layout.css beside this file; `npm run build` copies it to dist/),
// read once at start. Public: it holds nothing but styles.
const css = readFileSync(new URL('./assets/layout.css', import.meta.url))

const layoutCss: FastifyPluginAsync = async function (fastify) {
  fastify.get(LAYOUT_CSS_URL, async (request, reply) => {
    return reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(css)
  })
}

export default layoutCss
