import t from 'tap'
import { claimsParameter, graphClaimsChallenge, parseClaimsChallenge } from '../../../../plugins/oauth-proxy/upstream-entra/claims.ts'
import { claimsChallenged } from '../../../../plugins/oauth-proxy/upstream-entra/aadsts.ts'
import { graphClaimsChallenge as devGraphChallenge, MFA_CHALLENGE } from '../../../../dev-idp/conditional-access.ts'

const CAE = { access_token: { nbf: { essential: true, value: '1700000000' } } }

t.test('without a challenge the claims parameter declares only CP1', async t => {
  t.same(JSON.parse(claimsParameter()), { access_token: { xms_cc: { values: ['CP1'] } } })
})

t.test('a challenge is merged with CP1, keeping what it asks and any capability it names', async t => {
  t.same(JSON.parse(claimsParameter(CAE)), { access_token: { nbf: { essential: true, value: '1700000000' }, xms_cc: { values: ['CP1'] } } })
  t.same(JSON.parse(claimsParameter({ access_token: { xms_cc: { values: ['CP2', 'CP1'] } }, id_token: { acrs: { essential: true } } })),
    { access_token: { xms_cc: { values: ['CP2', 'CP1'] } }, id_token: { acrs: { essential: true } } })
  t.same(CAE, { access_token: { nbf: { essential: true, value: '1700000000' } } }, 'the challenge itself is not changed')
})

t.test('a challenge is read from JSON (Entra token errors) or base64 JSON (Graph), and nothing else', async t => {
  t.same(parseClaimsChallenge(JSON.stringify(CAE)), CAE)
  t.same(parseClaimsChallenge(Buffer.from(JSON.stringify(CAE)).toString('base64')), CAE)
  for (const bad of [undefined, '', 'null', '[1]', '{"access_token":"x"}', 'not json', `{"access_token":{"x":"${'a'.repeat(5000)}"}}`]) {
    t.equal(parseClaimsChallenge(bad), undefined, `refused: ${String(bad).slice(0, 30)}`)
  }
})

t.test('Graph\'s insufficient_claims WWW-Authenticate gives its challenge; other 401s give none', async t => {
  t.same(graphClaimsChallenge(devGraphChallenge(MFA_CHALLENGE)), MFA_CHALLENGE)
  t.equal(graphClaimsChallenge('Bearer error="invalid_token"'), undefined)
  t.equal(graphClaimsChallenge(null), undefined)
})

t.test('a refusal is a Conditional Access challenge when it carries claims or names a policy reason', async t => {
  t.ok(claimsChallenged({ error: 'interaction_required', transient: false, claims: CAE }))
  t.ok(claimsChallenged({ error: 'interaction_required', transient: false, aadsts: 'AADSTS50076' }))
  t.ok(claimsChallenged({ error: 'invalid_grant', transient: false, aadsts: 'AADSTS50173' }))
  t.notOk(claimsChallenged({ error: 'interaction_required', transient: false, aadsts: 'AADSTS50058' }))
  t.notOk(claimsChallenged({ error: 'invalid_client', transient: false, aadsts: 'AADSTS7000222' }))
})
