import t from 'tap'
import { maskSecrets } from '../../../plugins/audit-log/mask.ts'

t.test('maskSecrets masks secret-named fields at any depth and keeps the rest', async t => {
  t.same(maskSecrets({ client_id: 'c', code: 'abc', nested: { refresh_token: 'r', list: [{ client_secret: 's' }] }, reason: 'x' }),
    { client_id: 'c', code: '[Redacted]', nested: { refresh_token: '[Redacted]', list: [{ client_secret: '[Redacted]' }] }, reason: 'x' })
  t.same(maskSecrets({ token: undefined }), { token: undefined }, 'absent stays absent')
})
