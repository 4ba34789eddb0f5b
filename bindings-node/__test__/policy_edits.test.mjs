// Policy edits from Node: compare-and-swap on the policy hash, attested with a diff; never an
// agent's tool.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import * as mcp from '../mcp.mjs'
import { Engine, Issuer, passgate, throwsCode } from './helpers.mjs'

const POLICY = {
  version: 1,
  gates: { pay: { require: ['pay'], constraints: [{ id: 'cap', type: 'spend_limit', field: '/amount', max: 100, window: '1d' }] } },
}

const hashOf = (engine) => engine.call('list_gates', {}).policy_hash

test('upsertGate, setGateConstraints, setAnonymousPolicy, deleteGate: ifMatch, attestation, enforcement', () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'alice', permissions: ['pay', 'web:fetch'] })
  const h0 = hashOf(engine)
  let r = engine.upsertGate('web.fetch', { require: ['web:fetch'] }, h0)
  assert.equal(r.previousHash, h0)
  assert.equal(r.policyHash, hashOf(engine))
  assert.notEqual(r.policyHash, h0)
  assert.equal(r.attestation.body.kind, 'policy.changed')
  assert.deepEqual(r.attestation.body.data.diff.gates_added, ['web.fetch'])
  assert.equal(engine.enforce({ gate: 'web.fetch', passport, payload: {} }).decision, 'allow')

  const conflict = throwsCode(() => engine.deleteGate('pay', h0), 'POLICY_CONFLICT')
  assert.ok(conflict instanceof passgate.InputError)
  assert.equal(engine.getGate('pay').name, 'pay')

  r = engine.setGateConstraints('pay', [{ id: 'cap', type: 'spend_limit', field: '/amount', max: 10, window: '1d' }], r.policyHash)
  assert.deepEqual(r.attestation.body.data.diff.gates_changed, [{ gate: 'pay', paths: ['/constraints/0/max'] }])
  assert.equal(engine.enforce({ gate: 'pay', passport, payload: { amount: 50 } }).decision, 'deny')
  r = engine.setAnonymousPolicy({ gates: ['web.fetch'] }, r.policyHash)
  assert.equal(engine.enforce({ gate: 'web.fetch', payload: {} }).decision, 'allow')
  r = engine.deleteGate('web.fetch', r.policyHash)
  assert.deepEqual(r.attestation.body.data.diff.gates_removed, ['web.fetch'])
  throwsCode(() => engine.deleteGate('web.fetch'), 'GATE_UNKNOWN')
  const bad = throwsCode(() => engine.upsertGate('pay', { mode: 'lenient' }), 'POLICY_INVALID')
  assert.equal(bad.path, '/gates/pay/mode')
  assert.equal(typeof engine.setPolicy(POLICY, r.policyHash), 'string')
  assert.equal(engine.attestations({ kind: 'policy.changed' }).length, 5)
})

test('the agent catalogue has no edit tool, and an agent calling one is refused', async () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'alice', permissions: ['pay'] })
  const edits = ['upsert_gate', 'delete_gate', 'set_gate_constraints', 'set_anonymous_policy']
  const agentTools = mcp.tools('agent').map((t) => t.name)
  for (const name of edits) assert.ok(!agentTools.includes(name), name)
  const before = engine.attestations().length
  const reply = await mcp.handleAsync(
    engine,
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'delete_gate', arguments: { gate: 'pay' } } },
    { role: 'agent', passport: passport.token },
  )
  assert.equal(reply.result.isError, true)
  assert.equal(JSON.parse(reply.result.content[0].text).error.code, 'FORBIDDEN')
  assert.equal(engine.attestations().length, before)
})

test('policy_source=store: engines on one SQLite file enforce one policy', async () => {
  const { mkdtempSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { tmpdir } = await import('node:os')
  const dir = mkdtempSync(join(tmpdir(), 'passgate-fleet-'))
  const url = `sqlite://${join(dir, 'fleet.db')}?policy_source=store`
  const issuer = Issuer.generate()
  const a = new Engine({ policy: POLICY, trustedIssuers: [issuer.did], store: url })
  const b = new Engine({ trustedIssuers: [issuer.did], store: url })
  const passport = issuer.issuePassport({ agentId: 'alice', permissions: ['pay'] })
  assert.equal(b.enforce({ gate: 'refund', passport, payload: {} }).decision, 'deny')
  const r = a.createGate('refund', { require: ['pay'] }, hashOf(a))
  assert.equal(b.enforce({ gate: 'refund', passport, payload: {} }).decision, 'allow')
  assert.equal(hashOf(b), r.policyHash)
  throwsCode(() => b.updateGate('refund', {}, hashOf(a).replace(/.$/, '0')), 'POLICY_CONFLICT')
})

test('templates, effective constraints and run bundles', () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: { ...POLICY, record: { payload: true } }, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'alice', permissions: ['pay'] })
  engine.upsertTemplate('per-request', { params: { max: { type: 'number' } }, constraints: [{ id: 'c', type: 'max_value', field: '/amount', max: '$max' }] })
  assert.ok(engine.templates().some((t) => t.name === 'per-request' && t.builtin === false))
  engine.applyTemplate('pay', 'per-request', { max: 5 })
  assert.deepEqual(engine.getConstraints('pay', passport).constraints.map((c) => c.id), ['per-request/c', 'cap'])
  assert.equal(engine.enforce({ gate: 'pay', passport, payload: { amount: 6 } }).decision, 'deny')
  const d = engine.enforce({ gate: 'pay', passport, payload: { amount: 2 } })
  const got = engine.getEvaluation({ evaluationId: d.evaluationId })
  assert.equal(got.bundleStatus, 'recorded')
  assert.deepEqual(got.bundle.payload, { amount: 2 })
  assert.equal(engine.purgeBundle(d.evaluationId).purged, true)
  assert.equal(engine.getEvaluation({ evaluationId: d.evaluationId }).bundleStatus, 'purged')
  assert.deepEqual(engine.anonymousPolicy(), { anonymous: null, policyHash: hashOf(engine) })
})
