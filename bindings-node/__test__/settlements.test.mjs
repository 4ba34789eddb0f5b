// Consumption attestations and settlements from Node (issue 18 items 5-6): a call priced from its
// decision's catalog terms with the engine's platform fee, a settlement generated, exported and
// verified, moved through its states (nothing leaves `paid`), and the commerce options of
// `new Engine` checked.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer } from './helpers.mjs'

const POLICY = { version: 1, gates: { llm: { require: ['llm:complete'] } } }
const CATALOG = {
  gate: 'llm',
  trust_level: 'L1',
  offers: [{
    permission: 'llm:complete',
    price: { amount: 300, currency: 'USD' },
    pricing: { model: 'per_unit', field: '/tokens', unit: 1000 },
  }],
}

test('a consumption is priced from the catalog with the platform fee, and settled', () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did], platformFeeBps: 250, popLeewaySecs: 5 })
  engine.createCatalog({ gate: 'llm', catalog: CATALOG })
  engine.publishCatalog({ gate: 'llm' })
  const agent = issuer.issuePassport({ agentId: 'agent', permissions: ['llm:complete'] })
  const d = engine.enforce({ gate: 'llm', passport: agent.token, payload: { tokens: 4000 } })
  const rec = engine.issueConsumptionAttestation({ evaluationId: d.evaluationId, outcome: 'success', quantity: 4000 })
  const data = rec.body.data
  assert.deepEqual([data.price.amount, data.fee_bps, data.fee, data.net], [1200, 250, 30, 1170])
  assert.throws(
    () => engine.issueConsumptionAttestation({ evaluationId: d.evaluationId, outcome: 'success', quantity: 1 }),
    (e) => e.code === 'CONSUMPTION_EXISTS',
  )
  const s = engine.generateSettlement({ from: 0, to: 4_000_000_000_000 })
  assert.deepEqual(s.totals.USD, { gross: 1200, fee: 30, net: 1170, count: 1 })
  const bundle = engine.exportSettlement({ settlementId: s.settlementId })
  const checked = engine.verifySettlement({ document: bundle.settlement, did: engine.signerDid, consumptions: bundle.consumptions })
  assert.equal(checked.recordsChecked, true)
  const forged = structuredClone(bundle)
  forged.consumptions[0].body.data.net += 1
  assert.throws(
    () => engine.verifySettlement({ document: forged.settlement, did: engine.signerDid, consumptions: forged.consumptions }),
    (e) => e.code === 'ATTESTATION_HASH',
  )
  engine.updateSettlementStatus({ settlementId: s.settlementId, status: 'issued' })
  engine.updateSettlementStatus({ settlementId: s.settlementId, status: 'paid' })
  assert.throws(
    () => engine.updateSettlementStatus({ settlementId: s.settlementId, status: 'disputed' }),
    (e) => e.code === 'SETTLEMENT_TRANSITION',
  )
})

test('the commerce options of new Engine are checked', () => {
  for (const [options, path] of [
    [{ platformFeeBps: 10_001 }, '/platform_fee_bps'],
    [{ platformFeeBps: -1 }, '/platformFeeBps'],
    [{ popLeewaySecs: 0 }, '/pop_leeway_secs'],
    [{ popLeewaySecs: 'soon' }, null],
  ]) {
    assert.throws(() => new Engine({ policy: POLICY, ...options }), (e) => {
      assert.equal(e.code, 'INVALID_ARGUMENT', JSON.stringify(options))
      if (path !== null) assert.equal(e.path, path)
      return true
    })
  }
})
