import type { FastifyPluginAsync } from 'fastify'
import type { AdminGuards } from '../../plugins/admin/guards.ts'
import { sendAdminPage } from './layout.ts'

// GET /admin until the dashboard (routes/admin/dashboard.ts) takes this path on merge: a minimal
// landing that leads to the grants and clients pages.
const landing: FastifyPluginAsync<{ guards: AdminGuards }> = async function (fastify, { guards }) {
  fastify.get('/admin', { preHandler: guards.page }, async (request, reply) => {
    return sendAdminPage(reply, 200, {
      title: 'Administration',
      admin: request.admin,
      csrfToken: request.adminCsrfToken,
      active: 'dashboard',
      body: `<h1>Administration</h1>
<p class="lead">Sign-ins and applications of this gateway.</p>
<div class="cards">
<section class="card"><h2><a href="/admin/grants" id="link-grants">Grants</a></h2><p class="muted">Who is signed in with which application; revoke one sign-in or all of a user's.</p></section>
<section class="card"><h2><a href="/admin/clients" id="link-clients">Clients</a></h2><p class="muted">Registered applications and the consents given to them.</p></section>
</div>`
    })
  })
}

export default landing
