// The passport registry and the trusted issuers from Node: issuance recorded and attested,
// passports made elsewhere registered when first verified, live status, pages, issuers trusted
// and untrusted through a store two engines share, trust windows on the root `iat`, and a signed
// trust export imported by another engine (a tampered one imports nothing).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { passgate, Engine, Issuer, throwsCode } from './helpers.mjs'
import * as mcp from '../mcp.mjs'

const POLICY = { version: 1, gates: { pay: { require: ['pay'] } } }
const sha256 = (s) => createHash('sha256').update(s).digest('hex')

test('an issued passport is recorded (never its token or key), attested, and has a live status', () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  const p = engine.issuePassport({ issuerSecret: issuer.secret, agentId: 'alice', permissions: ['pay'] })
  const got = engine.getPassport(p.passportId)
  assert.equal(got.agent, 'alice')
  assert.equal(got.source, 'issued')
  assert.equal(got.status, 'active')
  assert.equal(got.tokenHash, sha256(p.token))
  assert.ok(!JSON.stringify(got).includes(p.token) && !JSON.stringify(got).includes(p.privateKey))
  assert.deepEqual(engine.attestations({ kind: 'issuance' }).map((r) => r.body.data.passport_id), [p.passportId])
  engine.revokePassport(p.passportId)
  assert.equal(engine.getPassport(p.passportId).status, 'revoked')
  throwsCode(() => engine.getPassport('psp_' + 'a'.repeat(26)), 'PASSPORT_UNKNOWN')
  const bad = throwsCode(() => engine.getPassport('nope'), 'INVALID_ARGUMENT')
  assert.equal(bad.path, '/passportId')
})

test('a passport made elsewhere is registered when first verified, every link; pages by cursor', () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  const root = issuer.issuePassport({ agentId: 'alice', permissions: ['pay'] })
  const child = root.issueSubPassport({ agentId: 'helper', permissions: ['pay'], expiresInDays: 1 })
  assert.equal(engine.enforce({ gate: 'pay', passport: child }).decision, 'allow')
  const c = engine.getPassport(child.passportId)
  assert.equal(c.source, 'seen')
  assert.equal(c.parent, root.passportId)
  assert.deepEqual(c.ancestors, [root.passportId])
  for (let i = 0; i < 3; i++) engine.issuePassport({ issuerSecret: issuer.secret, agentId: `bot${i}`, permissions: ['pay'] })
  const seen = []
  let page = engine.listPassports({ limit: 2 })
  for (;;) {
    seen.push(...page.passports.map((p) => p.passportId))
    if (page.nextCursor === null) break
    page = engine.listPassports({ limit: 2, cursor: page.nextCursor })
  }
  assert.equal(seen.length, 5)
  assert.deepEqual(seen, [...seen].sort())
  assert.deepEqual(engine.listPassports({ parent: root.passportId }).passports.map((p) => p.passportId), [child.passportId])
  assert.equal(engine.listPassports({ agent: 'bot1' }).passports.length, 1)
  assert.equal(engine.listPassports({ status: 'active', permission: 'pay' }).passports.length, 5)
  assert.equal(throwsCode(() => engine.listPassports({ cursor: 'garbage' }), 'INVALID_ARGUMENT').path, '/cursor')
})

test('issuers trusted, windowed and untrusted through a SQLite store two engines share', () => {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-registry-'))
  const store = `sqlite://${join(dir, 'shared.db')}`
  const a = new Engine({ policy: POLICY, store })
  const b = new Engine({ policy: POLICY, store })
  const issuer = Issuer.generate()
  const p = issuer.issuePassport({ agentId: 'agent', permissions: ['pay'] })
  assert.equal(b.enforce({ gate: 'pay', passport: p }).decision, 'deny')
  const trusted = a.trustIssuer(issuer.did)
  assert.equal(trusted.source, 'store')
  assert.deepEqual(trusted.publicJwk, issuer.publicJwk)
  assert.equal(b.enforce({ gate: 'pay', passport: p }).decision, 'allow')
  assert.deepEqual(b.listIssuers().map((i) => i.did), [issuer.did])
  a.trustIssuer(issuer.did, { notAfter: 0 })
  const refused = b.enforce({ gate: 'pay', passport: p })
  assert.equal(refused.decision, 'deny')
  assert.ok(refused.checks.some((c) => !c.passed && c.code === 'ISSUER_UNTRUSTED'))
  assert.equal(b.listIssuers()[0].notAfter, 0)
  a.trustIssuer(issuer.did)
  assert.deepEqual(a.untrustIssuer(issuer.did), { did: issuer.did, was: 'store' })
  assert.equal(b.enforce({ gate: 'pay', passport: p }).decision, 'deny')
  assert.equal(throwsCode(() => a.trustIssuer('did:key:nope'), 'INVALID_ARGUMENT').path, '/did')
  a.close()
  b.close()
})

test('a trust export imports into another engine; a tampered or foreign one imports nothing', () => {
  const issuer = Issuer.generate()
  const a = new Engine({ policy: POLICY })
  a.trustIssuer(issuer.did)
  const gone = issuer.issuePassport({ agentId: 'gone', permissions: ['pay'] })
  a.revokePassport(gone.passportId)
  const doc = a.exportTrust()
  assert.equal(doc.body.signer, a.signerDid)
  assert.deepEqual(doc.body.revoked, [gone.passportId])
  const b = new Engine({ policy: POLICY })
  const tampered = structuredClone(doc)
  tampered.body.revoked = []
  const e = throwsCode(() => b.importTrust(tampered, a.signerDid), 'ATTESTATION_HASH')
  assert.ok(e instanceof passgate.AttestationError)
  throwsCode(() => b.importTrust(doc, b.signerDid), 'ATTESTATION_KEY')
  assert.deepEqual(b.listIssuers(), [])
  assert.deepEqual(b.importTrust(doc, a.signerDid), { issuers: [issuer.did], revoked: 1, skipped: [] })
  const ok = issuer.issuePassport({ agentId: 'ok', permissions: ['pay'] })
  assert.equal(b.enforce({ gate: 'pay', passport: ok }).decision, 'allow')
  assert.equal(b.enforce({ gate: 'pay', passport: gone }).decision, 'deny')
})

test('the agent gets none of the registry tools; the operator gets all', () => {
  const names = (role) => mcp.tools(role).map((t) => t.name)
  const agent = names('agent')
  const operator = names('operator')
  for (const op of ['get_passport', 'list_passports', 'list_issuers', 'trust_issuer', 'untrust_issuer', 'export_trust', 'import_trust']) {
    assert.ok(!agent.includes(op), op)
    assert.ok(operator.includes(op), op)
  }
})
