// Holds, approvals, PII redaction, allowed gates and the anonymous log, from Node.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer } from './helpers.mjs'

const GATES = {
  llm: { require: ['llm'], constraints: [{ id: 'budget', type: 'spend_limit', field: '/cost', max: 100, window: '1d' }] },
  wire: { require: ['wire'], constraints: [{ id: 'big', type: 'approval', when: { field: '/amount', op: 'gt', value: 1000 } }] },
  mail: { require: ['mail'], constraints: [{ id: 'pii', type: 'pii', mode: 'redact' }] },
}

/** An engine with only `names` of the gates above (so each feature lights up on its own). */
function holdSetup(...names) {
  const issuer = Issuer.generate()
  const policy = { version: 1, gates: Object.fromEntries(names.map((n) => [n, GATES[n]])) }
  const engine = new Engine({ policy, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['llm', 'wire', 'mail'] })
  return { engine, passport }
}

test('hold, then settle with the actual amount', () => {
  const { engine, passport } = holdSetup('llm')
  const d = engine.enforce({ gate: 'llm', passport, payload: { cost: 60 }, hold: true })
  assert.equal(d.allowed, true)
  assert.match(d.holdId, /\S/)
  assert.equal(engine.enforce({ gate: 'llm', passport, payload: { cost: 50 }, hold: true }).allowed, false)
  engine.settle(d.holdId, { cost: 20 })
  assert.equal(engine.cumulativeState({ gate: 'llm' })[0].used, '20')
  assert.equal(engine.enforce({ gate: 'llm', passport, payload: { cost: 50 } }).allowed, true)
})

test('hold, then release gives the reservation back', async () => {
  const { engine, passport } = holdSetup('llm')
  const d = await engine.enforceAsync({ gate: 'llm', passport, payload: { cost: 100 }, hold: true })
  engine.release(d.holdId)
  assert.equal(engine.enforce({ gate: 'llm', passport, payload: { cost: 100 } }).allowed, true)
  assert.equal(engine.expireHolds(), 0)
})

test('expireHolds(limit) expires at most limit; repeated calls drain', async () => {
  const issuer = Issuer.generate()
  const policy = { version: 1, hold_ttl: '1s', gates: { job: { require: ['job'], constraints: [{ id: 'slots', type: 'concurrency', max: 10 }] } } }
  const engine = new Engine({ policy, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['job'] })
  for (let i = 0; i < 5; i++) assert.equal(engine.enforce({ gate: 'job', passport, payload: {}, hold: true }).allowed, true)
  await new Promise((resolve) => setTimeout(resolve, 1100)) // past the 1 s hold TTL (system clock)
  assert.deepEqual([2, 2, 2, 2].map((n) => engine.expireHolds(n)), [2, 2, 1, 0])
  assert.equal(engine.expireHolds(), 0)
  assert.equal(engine.cumulativeState({ gate: 'job' })[0].used, '0')
  assert.throws(() => engine.expireHolds(-1), { code: 'INVALID_ARGUMENT' })
})

test('escalate, approve, retry with the token: admitted once', () => {
  const { engine, passport } = holdSetup('wire')
  const req = { gate: 'wire', passport, payload: { amount: 5000 } }
  const d = engine.enforce(req)
  assert.equal(d.decision, 'escalate')
  assert.ok(d.approvalRequest)
  const token = engine.approve(d.evaluationId, 'alice@example.com', '15m')
  assert.equal(typeof token, 'string')
  assert.equal(engine.enforce({ ...req, approval: token }).decision, 'allow')
  const again = engine.enforce({ ...req, approval: token })
  assert.equal(again.decision, 'deny')
  assert.deepEqual(again.checks.filter((c) => !c.passed).map((c) => c.code), ['APPROVAL_USED'])
})

test('denyApproval records the refusal', () => {
  const { engine, passport } = holdSetup('wire')
  const d = engine.enforce({ gate: 'wire', passport, payload: { amount: 5000 } })
  engine.denyApproval(d.evaluationId, 'alice@example.com', 'not this vendor')
  assert.ok(engine.attestations().length >= 2)
})

test('pii redact puts redactedPayload in the decision', () => {
  const { engine, passport } = holdSetup('mail')
  const d = engine.enforce({ gate: 'mail', passport, payload: { body: 'write to bob@example.com' } })
  assert.ok(d.redactedPayload)
  assert.doesNotMatch(JSON.stringify(d.redactedPayload), /bob@example\.com/)
})

test('allowedGates and anonymousLog', () => {
  const { engine, passport } = holdSetup('llm')
  assert.deepEqual(engine.allowedGates(passport), ['llm'])
  assert.ok(Array.isArray(engine.anonymousLog()))
})
