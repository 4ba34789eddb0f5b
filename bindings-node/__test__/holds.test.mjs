// Holds, approvals, allowed gates and the anonymous log: the core ships them in issue 3. The
// binding already routes them through the JSON seam; these tests light up when the core lands.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer, throwsCode } from './helpers.mjs'

const TODO = { todo: 'core issue 3 (holds, approvals, allowedGates, anonymousLog)' }

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

test('hold, then settle with the actual amount', TODO, () => {
  const { engine, passport } = holdSetup('llm')
  const d = engine.enforce({ gate: 'llm', passport, payload: { cost: 60 }, hold: true })
  assert.equal(d.allowed, true)
  assert.match(d.holdId, /\S/)
  assert.equal(engine.enforce({ gate: 'llm', passport, payload: { cost: 50 }, hold: true }).allowed, false)
  engine.settle(d.holdId, { cost: 20 })
  assert.equal(engine.cumulativeState({ gate: 'llm' })[0].used, '20')
  assert.equal(engine.enforce({ gate: 'llm', passport, payload: { cost: 50 } }).allowed, true)
})

test('hold, then release gives the reservation back', TODO, async () => {
  const { engine, passport } = holdSetup('llm')
  const d = await engine.enforceAsync({ gate: 'llm', passport, payload: { cost: 100 }, hold: true })
  engine.release(d.holdId)
  assert.equal(engine.enforce({ gate: 'llm', passport, payload: { cost: 100 } }).allowed, true)
  assert.ok(engine.expireHolds() !== undefined)
})

test('escalate, approve, retry with the token: admitted once', TODO, () => {
  const { engine, passport } = holdSetup('wire')
  const req = { gate: 'wire', passport, payload: { amount: 5000 } }
  const d = engine.enforce(req)
  assert.equal(d.decision, 'escalate')
  assert.ok(d.approvalRequest)
  const token = engine.approve(d.evaluationId, 'alice@example.com', '15m')
  assert.equal(typeof token, 'string')
  assert.equal(engine.enforce({ ...req, approval: token }).decision, 'allow')
  assert.notEqual(engine.enforce({ ...req, approval: token }).decision, 'allow')
})

test('denyApproval records the refusal', TODO, () => {
  const { engine, passport } = holdSetup('wire')
  const d = engine.enforce({ gate: 'wire', passport, payload: { amount: 5000 } })
  engine.denyApproval(d.evaluationId, 'alice@example.com', 'not this vendor')
  assert.ok(engine.attestations().length >= 2)
})

test('pii redact puts redactedPayload in the decision', TODO, () => {
  const { engine, passport } = holdSetup('mail')
  const d = engine.enforce({ gate: 'mail', passport, payload: { body: 'write to bob@example.com' } })
  assert.ok(d.redactedPayload)
  assert.doesNotMatch(JSON.stringify(d.redactedPayload), /bob@example\.com/)
})

test('allowedGates and anonymousLog', TODO, () => {
  const { engine, passport } = holdSetup('llm')
  assert.deepEqual(engine.allowedGates(passport), ['llm'])
  assert.ok(Array.isArray(engine.anonymousLog()))
})

test('until the core lands them, the issue-3 calls throw INVALID_ARGUMENT, not crash', () => {
  const { engine, passport } = holdSetup('llm')
  for (const call of [
    () => engine.settle('hld_x'),
    () => engine.release('hld_x'),
    () => engine.expireHolds(),
    () => engine.approve('evl_x', 'alice'),
    () => engine.denyApproval('evl_x', 'alice', 'no'),
    () => engine.allowedGates(passport),
    () => engine.anonymousLog(),
  ]) {
    let error
    try {
      call()
    } catch (e) {
      error = e
    }
    // Either the core has them (no error) or it says so with a code.
    if (error) assert.equal(error.code, 'INVALID_ARGUMENT', error.message)
  }
  let error
  try {
    engine.enforce({ gate: 'llm', passport, payload: { cost: 1 }, hold: true })
  } catch (e) {
    error = e
  }
  if (error) throwsCode(() => { throw error }, 'INVALID_ARGUMENT')
})
