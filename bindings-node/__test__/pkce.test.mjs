// passgate/pkce: the S256 helpers and the authorization-code flow, as the Python suite checks them,
// and a minted passport used as the gateway's bearer.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer, PassportError, InputError } from '../passgate.mjs'
import { AuthorizationFlow, generateVerifier, challengeS256, verifyS256 } from '../pkce.mjs'
import { Gateway } from '../gateway.mjs'
import { throwsCode } from './helpers.mjs'

const URI = 'https://host.example/cb'

test('RFC 7636 vector and malformed verifiers', () => {
  const v = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'
  assert.equal(challengeS256(v), 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM')
  assert.equal(verifyS256(v, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'), true)
  assert.equal(verifyS256(v, 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN'), false)
  const g = generateVerifier()
  assert.ok(g.length >= 43 && g.length <= 128 && g !== generateVerifier())
  const e = throwsCode(() => challengeS256('too-short'), 'INVALID_ARGUMENT')
  assert.equal(e.path, '/code_verifier')
  assert.ok(e instanceof InputError)
})

function flow () {
  const issuer = Issuer.generate()
  const engine = new Engine({
    policy: { version: 1, gates: { pay: { require: ['pay:send'] }, admin: { require: ['admin:*'] } } },
    trustedIssuers: [issuer.did],
  })
  return { flow: new AuthorizationFlow(issuer, { passportTtl: 300 }), engine, issuer }
}

const code = (f, v) => f.authorize({ agentId: 'a1', permissions: ['pay:send'], codeChallenge: challengeS256(v), codeChallengeMethod: 'S256', redirectUri: URI, clientId: 'cli' })

test('the minted passport has exactly the consented permissions, and works as the gateway bearer', async () => {
  const { flow: f, engine } = flow()
  const v = generateVerifier()
  const p = f.exchange({ code: code(f, v), codeVerifier: v, redirectUri: URI, clientId: 'cli' })
  assert.equal(engine.enforce({ gate: 'pay', passport: p }).decision, 'allow')
  assert.equal(engine.enforce({ gate: 'admin', passport: p }).decision, 'deny')
  const claims = engine.verifyPassport(p)
  assert.equal(claims.exp - claims.iat, 300)
  const gateway = new Gateway(engine)
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'enforce_action', arguments: { gate: 'pay' } } }))
  const headers = [['content-type', 'application/json'], ['authorization', `Bearer ${p.token}`]]
  const out = await gateway.handle('POST', '/mcp', headers, body)
  assert.equal(out.status, 200)
  assert.equal(JSON.parse(Buffer.from(out.body).toString()).result.structuredContent.decision, 'allow')
})

test('the attacker gets one try per code', () => {
  const { flow: f } = flow()
  const v = generateVerifier()
  // A guessed verifier burns the code: the right one then fails too.
  let c = code(f, v)
  const e = throwsCode(() => f.exchange({ code: c, codeVerifier: generateVerifier(), redirectUri: URI, clientId: 'cli' }), 'GRANT_INVALID')
  assert.ok(e instanceof PassportError)
  throwsCode(() => f.exchange({ code: c, codeVerifier: v, redirectUri: URI, clientId: 'cli' }), 'GRANT_INVALID')
  // A stolen code sent to another redirect URI, or by another client.
  c = code(f, v)
  throwsCode(() => f.exchange({ code: c, codeVerifier: v, redirectUri: 'https://evil.example/cb', clientId: 'cli' }), 'GRANT_INVALID')
  c = code(f, v)
  throwsCode(() => f.exchange({ code: c, codeVerifier: v, redirectUri: URI, clientId: 'other' }), 'GRANT_INVALID')
  // Reuse.
  c = code(f, v)
  f.exchange({ code: c, codeVerifier: v, redirectUri: URI, clientId: 'cli' })
  throwsCode(() => f.exchange({ code: c, codeVerifier: v, redirectUri: URI, clientId: 'cli' }), 'GRANT_INVALID')
  // plain is refused; unknown and snake_case options are refused; types are checked.
  const ie = throwsCode(() => f.authorize({ agentId: 'a1', permissions: [], codeChallenge: v, codeChallengeMethod: 'plain', redirectUri: URI, clientId: 'cli' }), 'INVALID_ARGUMENT')
  assert.equal(ie.path, '/code_challenge_method')
  throwsCode(() => f.authorize({ agent_id: 'a1' }), 'INVALID_ARGUMENT')
  throwsCode(() => f.authorize({ agentId: 'a1', permissions: 'pay:send', codeChallenge: challengeS256(v), codeChallengeMethod: 'S256', redirectUri: URI, clientId: 'cli' }), 'INVALID_ARGUMENT')
  throwsCode(() => f.exchange({ code: 7, codeVerifier: v, redirectUri: URI, clientId: 'cli' }), 'INVALID_ARGUMENT')
  throwsCode(() => new AuthorizationFlow(Issuer.generate(), { passportTtl: -1 }), 'INVALID_ARGUMENT')
})
