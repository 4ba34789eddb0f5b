// Catalogs from Node (issue 18 items 1-3): draft, publish, read, diff, discover, pin; a published
// catalog verified offline with node:crypto alone; typed errors naming the field; a delegate
// cannot change its parent's pin.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createPublicKey, verify } from 'node:crypto'

import { passgate, Engine, Issuer } from './helpers.mjs'

const POLICY = { version: 1, gates: { llm: { require: ['llm:complete'] } } }
const catalog = (amount) => ({
  gate: 'llm',
  trust_level: 'L1',
  offers: [{ permission: 'llm:complete', price: { amount, currency: 'USD' }, pricing: { model: 'per_unit', field: '/tokens', unit: 1000 }, sla: { availability_bp: 9990, p95_latency_ms: 800 } }],
})

/** RFC 8785 for documents of strings, integers, booleans, null, arrays and ASCII-keyed objects. */
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}

const B58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
function didKey(did) {
  let n = 0n
  for (const ch of did.slice('did:key:z'.length)) n = n * 58n + BigInt(B58.indexOf(ch))
  const raw = Buffer.from(n.toString(16).padStart(68, '0'), 'hex')
  assert.deepEqual([...raw.subarray(0, 2)], [0xed, 0x01])
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(2).toString('base64url') }, format: 'jwk' })
}

function verifyOffline(doc, did) {
  const digest = createHash('sha256').update(canonical(doc.body)).digest()
  if (doc.hash !== `sha256:${digest.toString('hex')}`) return false
  const content = createHash('sha256').update(canonical(doc.body.catalog)).digest('hex')
  if (doc.body.content_hash !== `sha256:${content}`) return false
  const msg = Buffer.concat([Buffer.from('passgate/catalog/v1\n'), digest])
  return verify(null, msg, didKey(did), Buffer.from(doc.sig, 'base64url'))
}

function world() {
  const issuer = Issuer.generate()
  return { issuer, engine: new Engine({ policy: POLICY, trustedIssuers: [issuer.did] }) }
}

test('a published catalog verifies offline with node:crypto, and any changed byte does not', () => {
  const { engine } = world()
  const draft = engine.createCatalog({ gate: 'llm', catalog: catalog(200) })
  assert.equal(draft.nextVersion, 1)
  const v1 = engine.publishCatalog({ gate: 'llm', changeSummary: 'launch' })
  assert.equal(v1.version, 1)
  assert.equal(v1.contentHash, draft.contentHash)
  assert.ok(verifyOffline(v1.document, engine.signerDid))
  assert.equal(engine.verifyCatalog({ document: v1.document }).valid, true)
  const forged = structuredClone(v1.document)
  forged.body.catalog.offers[0].price.amount = 1
  assert.equal(verifyOffline(forged, engine.signerDid), false)
  assert.throws(() => engine.verifyCatalog({ document: forged }), (e) => e instanceof passgate.AttestationError && e.code === 'ATTESTATION_HASH')
  // Re-hashed but not re-signed.
  forged.body.content_hash = `sha256:${createHash('sha256').update(canonical(forged.body.catalog)).digest('hex')}`
  forged.hash = `sha256:${createHash('sha256').update(canonical(forged.body)).digest('hex')}`
  assert.equal(verifyOffline(forged, engine.signerDid), false)
})

test('bad catalogs are CATALOG_INVALID at the field', () => {
  const { engine } = world()
  for (const [edit, path] of [
    [(c) => { c.offers[0].price.amount = 1.5 }, '/offers/0/price/amount'],
    [(c) => { c.offers[0].price.amount = -1 }, '/offers/0/price/amount'],
    [(c) => { c.offers[0].pricing = { model: 'auction' } }, '/offers/0/pricing/model'],
  ]) {
    const c = catalog(200)
    edit(c)
    assert.throws(() => engine.createCatalog({ gate: 'llm', catalog: c }), (e) => e instanceof passgate.InputError && e.code === 'CATALOG_INVALID' && e.path === path)
  }
})

test('a pinned passport keeps its terms; the impact shows the breaking change; a delegate cannot move the pin', () => {
  const { issuer } = world()
  // The engine's clock is held still, then moved past v2's effective time before discovery: on
  // the system clock the whole test can run within the one millisecond between v1 and v2.
  let now = Date.now()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did], clock: () => now })
  engine.createCatalog({ gate: 'llm', catalog: catalog(200) })
  const v1 = engine.publishCatalog({ gate: 'llm' })
  const pin = { gate: 'llm', version: 1, content_hash: v1.contentHash }
  const agent = engine.issuePassport({ issuerSecret: issuer.secret, agentId: 'a', permissions: ['llm:complete'], pins: [pin] })
  engine.createCatalog({ gate: 'llm', catalog: catalog(300) })
  const v2 = engine.publishCatalog({ gate: 'llm', effectiveAt: v1.effectiveAt + 1 })
  const impact = engine.getCatalogImpact({ gate: 'llm', old: 1, new: 2 })
  assert.equal(impact.hasBreakingChanges, true)
  assert.deepEqual(impact.changes.map((c) => c.kind), ['price_increase'])
  const d = engine.enforce({ gate: 'llm', passport: agent.token, payload: { tokens: 10 } })
  assert.equal(d.decision, 'allow')
  assert.ok(d.checks.find((c) => c.type === 'catalog_pin').limit.startsWith('v1 '))
  const wrong = engine.issuePassport({ issuerSecret: issuer.secret, agentId: 'a', permissions: ['llm:complete'], pins: [{ ...pin, version: 2 }] })
  const denied = engine.enforce({ gate: 'llm', passport: wrong.token, payload: { tokens: 10 } })
  assert.equal(denied.decision, 'deny')
  assert.deepEqual(denied.checks.filter((c) => !c.passed).map((c) => c.code), ['CATALOG_PIN_MISMATCH'])
  assert.throws(
    () => engine.issuePassport({ issuerSecret: agent.privateKey, passport: agent.token, agentId: 's', permissions: ['llm:complete'], expiresInDays: 1, pins: [{ gate: 'llm', version: 2, content_hash: v2.contentHash }] }),
    (e) => e instanceof passgate.PassportError && e.code === 'DELEGATION_WIDENS',
  )
  // Accepting v2 on reissue moves the pin.
  const moved = engine.reissue(agent.token, issuer, null, [{ gate: 'llm', version: 2 }])
  const d2 = engine.enforce({ gate: 'llm', passport: moved, payload: { tokens: 10 } })
  assert.ok(d2.checks.find((c) => c.type === 'catalog_pin').limit.startsWith('v2 '))
  now = v1.effectiveAt + 1
  const services = engine.discoverServices({ filter: { permission: 'llm:*', currency: 'USD' } }).services
  assert.deepEqual(services.map((s) => [s.gate, s.version]), [['llm', 2]])
})
