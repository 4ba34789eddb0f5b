// Issuers and passports: JOSE interop (the `jose` package verifies passgate's tokens), delegation,
// reissue, revocation of descendants.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { importJWK, jwtVerify, decodeProtectedHeader } from 'jose'

import { Engine, Issuer, IssuedPassport, setup, throwsCode } from './helpers.mjs'

test('jose verifies a passport with the issuer public JWK', async () => {
  const issuer = Issuer.generate()
  const p = issuer.issuePassport({ agentId: 'agent-007', agentName: 'Billing bot', permissions: ['payments:send'], expiresInDays: 2 })
  const key = await importJWK(issuer.publicJwk, 'EdDSA')
  const { payload, protectedHeader } = await jwtVerify(p.token, key, { typ: 'passport+jwt', issuer: issuer.did, subject: 'agent-007' })
  assert.equal(protectedHeader.alg, 'EdDSA')
  assert.equal(protectedHeader.kid, issuer.did)
  assert.equal(payload.jti, p.passportId)
  assert.equal(payload.name, 'Billing bot')
  assert.deepEqual(payload.perms, ['payments:send'])
  assert.equal(payload.exp, p.expiresAt)
  assert.equal(payload.exp - payload.iat, 2 * 86400)
  // The agent's own key is in cnf; its did is the passport's did.
  assert.equal(payload.cnf.jwk.kty, 'OKP')
  // A different issuer's key does not verify it.
  await assert.rejects(jwtVerify(p.token, await importJWK(Issuer.generate().publicJwk, 'EdDSA')))
})

test('jose verifies a sub-agent passport with the parent agent key', async () => {
  const issuer = Issuer.generate()
  const parent = issuer.issuePassport({ agentId: 'parent', permissions: ['payments:*'] })
  const child = parent.issueSubPassport({ agentId: 'child', permissions: ['payments:send'], expiresInDays: 1 })
  assert.equal(decodeProtectedHeader(child.token).kid, parent.did)
  const parentClaims = new Engine({ trustedIssuers: [issuer.did] }).verifyPassport(parent)
  const { payload } = await jwtVerify(child.token, await importJWK(parentClaims.cnf.jwk, 'EdDSA'), { typ: 'passport+jwt' })
  assert.equal(payload.prf, parent.token)
})

test('issuer round trip through its secret', () => {
  const issuer = Issuer.generate()
  const again = Issuer.fromSecret(issuer.secret)
  assert.equal(again.did, issuer.did)
  assert.deepEqual(again.publicJwk, issuer.publicJwk)
  assert.match(issuer.did, /^did:key:z6Mk/)
  assert.deepEqual(Object.keys(issuer.publicJwk).sort(), ['crv', 'kty', 'x'])
})

test('issued passport fields and verified claims', () => {
  const { issuer, passport, engine } = setup()
  assert.match(passport.passportId, /^psp_[a-z2-7]{26}$/)
  assert.equal(passport.agentId, 'a')
  assert.match(passport.did, /^did:key:z6Mk/)
  assert.equal(typeof passport.privateKey, 'string')
  const c = engine.verifyPassport(passport.token)
  assert.equal(c.iss, issuer.did)
  assert.equal(c.sub, 'a')
  assert.equal(c.jti, passport.passportId)
  assert.deepEqual(c.perms, ['pay'])
  assert.equal(c.exp, passport.expiresAt)
  assert.equal(typeof c.iat, 'number')
})

test('passport options are checked', () => {
  const issuer = Issuer.generate()
  throwsCode(() => issuer.issuePassport({ permissions: ['pay'] }), 'INVALID_ARGUMENT')
  throwsCode(() => issuer.issuePassport({ agentId: 'a', agent_id: 'a' }), 'INVALID_ARGUMENT')
  throwsCode(() => issuer.issuePassport({ agentId: 'a', permissions: 'pay' }), 'INVALID_ARGUMENT')
  throwsCode(() => issuer.issuePassport({ agentId: 'a', expiresInDays: 1.5 }), 'INVALID_ARGUMENT')
  throwsCode(() => issuer.issuePassport({ agentId: 'a', expiresInDays: 0 }), 'INVALID_ARGUMENT')
  throwsCode(() => issuer.issuePassport({ agentId: 'a', caveats: [{ no: 'type' }] }), 'INVALID_ARGUMENT')
  throwsCode(() => issuer.issuePassport({ agentId: 'a', permissions: ['no spaces'] }), 'INVALID_ARGUMENT')
  // Issuers come from Issuer.generate() / Issuer.fromSecret(); there is no constructor.
  assert.throws(() => new Issuer())
})

test('caveats travel with the passport and its sub-agents', () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: { version: 1, gates: { pay: { require: ['pay'] } } }, trustedIssuers: [issuer] })
  const p = issuer.issuePassport({ agentId: 'a', permissions: ['pay'], caveats: [{ id: 'small', type: 'max_value', field: '/amount', max: 10 }] })
  assert.equal(engine.enforce({ gate: 'pay', passport: p, payload: { amount: 10 } }).decision, 'allow')
  const d = engine.enforce({ gate: 'pay', passport: p, payload: { amount: 11 } })
  assert.deepEqual(d.checks.filter((c) => !c.passed).map((c) => c.constraint), ['small'])
  const child = p.issueSubPassport({ agentId: 'c', permissions: ['pay'], expiresInDays: 1 })
  assert.equal(engine.enforce({ gate: 'pay', passport: child, payload: { amount: 11 } }).decision, 'deny')
})

test('delegation never widens, and revoking a parent revokes its children', () => {
  const { issuer, passport, engine } = setup()
  const late = throwsCode(() => passport.issueSubPassport({ agentId: 'c', permissions: ['pay'], expiresInDays: 31 }), 'DELEGATION_WIDENS')
  assert.match(late.message, /expiry/)
  const wide = throwsCode(() => passport.issueSubPassport({ agentId: 'c', permissions: ['admin'], expiresInDays: 1 }), 'DELEGATION_WIDENS')
  assert.match(wide.message, /not covered/)
  const child = passport.issueSubPassport({ agentId: 'c', permissions: ['pay'], expiresInDays: 1 })
  assert.equal(engine.verifyPassport(child).sub, 'c')
  engine.revokePassport(passport.passportId)
  throwsCode(() => engine.verifyPassport(child), 'PASSPORT_REVOKED')
  assert.ok(issuer)
})

test('IssuedPassport.fromToken restores a passport to delegate from', () => {
  const { passport, engine } = setup()
  const again = IssuedPassport.fromToken(passport.token, passport.privateKey)
  assert.equal(again.passportId, passport.passportId)
  const child = again.issueSubPassport({ agentId: 'c', permissions: ['pay'], expiresInDays: 1 })
  assert.equal(engine.verifyPassport(child.token).sub, 'c')
  throwsCode(() => IssuedPassport.fromToken(passport.token, Issuer.generate().secret), 'KEY_INVALID')
})

test('reissue revokes the old passport and keeps the agent', () => {
  const { issuer, passport, engine } = setup()
  const fresh = engine.reissue(passport, issuer, 7)
  assert.notEqual(fresh.passportId, passport.passportId)
  assert.equal(fresh.agentId, 'a')
  throwsCode(() => engine.verifyPassport(passport), 'PASSPORT_REVOKED')
  const c = engine.verifyPassport(fresh)
  assert.equal(c.exp - c.iat, 7 * 86400)
  const again = engine.reissue(fresh.token, issuer.secret)
  assert.equal(engine.verifyPassport(again).sub, 'a')
  const kinds = engine.attestations({ kind: 'revocation' }).map((r) => r.body.data.passport_id)
  assert.deepEqual(kinds, [passport.passportId, fresh.passportId])
})
