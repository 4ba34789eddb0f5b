// enforceAsync / dryRunAsync: Promises settled from the libuv pool; concurrent calls never admit
// more than a cap.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer, passgate, setup, rejectsCode } from './helpers.mjs'

const CAP_POLICY = {
  version: 1,
  gates: { spend: { require: ['spend'], constraints: [{ id: 'cap', type: 'spend_limit', field: '/amount', max: 100, window: '1d', scope: 'gate' }] } },
}

function capSetup() {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: CAP_POLICY, trustedIssuers: [issuer.did] })
  const agents = Array.from({ length: 8 }, (_, i) => issuer.issuePassport({ agentId: `agent-${i}`, permissions: ['spend'] }))
  return { engine, agents }
}

test('concurrent enforceAsync against a spend cap: never above it, exactly at it when demand exceeds it', async () => {
  for (let round = 0; round < 5; round++) {
    const { engine, agents } = capSetup()
    const calls = Array.from({ length: 64 }, (_, i) =>
      engine.enforceAsync({ gate: 'spend', passport: agents[i % agents.length], payload: { amount: 10 } }))
    const decisions = await Promise.all(calls)
    const admitted = decisions.filter((d) => d.allowed).length * 10
    assert.equal(admitted, 100, `round ${round}: admitted ${admitted}`)
    assert.equal(engine.cumulativeState({ gate: 'spend' })[0].used, '100')
    const records = engine.attestations()
    assert.equal(records.length, 64)
    assert.equal(passgate.verifyChain(records, engine.signerDid), true)
  }
})

test('uneven amounts never exceed the cap', async () => {
  const { engine, agents } = capSetup()
  const amounts = Array.from({ length: 80 }, (_, i) => 1 + (i * 7) % 13)
  const decisions = await Promise.all(amounts.map((amount, i) =>
    engine.enforceAsync({ gate: 'spend', passport: agents[i % agents.length].token, payload: { amount } })))
  const admitted = decisions.reduce((sum, d, i) => sum + (d.allowed ? amounts[i] : 0), 0)
  assert.ok(admitted <= 100, `admitted ${admitted}`)
  assert.equal(engine.cumulativeState({ gate: 'spend' })[0].used, String(admitted))
})

test('mixed sync and async calls share one state', async () => {
  const { engine, agents } = capSetup()
  const pending = Array.from({ length: 10 }, () => engine.enforceAsync({ gate: 'spend', passport: agents[0], payload: { amount: 10 } }))
  const sync = Array.from({ length: 10 }, () => engine.enforce({ gate: 'spend', passport: agents[1], payload: { amount: 10 } }))
  const all = [...sync, ...(await Promise.all(pending))]
  assert.equal(all.filter((d) => d.allowed).length, 10)
})

test('dryRunAsync decides without counting', async () => {
  const { engine, agents } = capSetup()
  const d = await engine.dryRunAsync({ gate: 'spend', passport: agents[0], payload: { amount: 100 } })
  assert.equal(d.dryRun, true)
  assert.equal(d.allowed, true)
  assert.deepEqual(engine.cumulativeState(), [])
})

test('async errors reject with .code, argument errors included', async () => {
  const { engine, passport } = setup()
  await rejectsCode(engine.enforceAsync({ gate: 'pay', payload: [1] }), 'PAYLOAD_INVALID')
  await rejectsCode(engine.enforceAsync({ gate: 'pay', payload: { n: NaN } }), 'PAYLOAD_INVALID')
  await rejectsCode(engine.dryRunAsync({ gate: 'pay', nope: 1 }), 'INVALID_ARGUMENT')
  await rejectsCode(engine.dryRunAsync(), 'INVALID_ARGUMENT')
  // A throwing getter's own exception rejects the promise as it is (never a synchronous throw).
  const boom = new Error('boom')
  const payload = Object.defineProperty({}, 'x', { enumerable: true, get() { throw boom } })
  await assert.rejects(engine.enforceAsync({ gate: 'pay', payload }), (e) => e === boom)
  await engine.enforceAsync({ gate: 'pay', passport, payload: { amount: 1 }, idempotencyKey: 'k' })
  const e = await rejectsCode(engine.enforceAsync({ gate: 'pay', passport, payload: { amount: 2 }, idempotencyKey: 'k' }), 'IDEMPOTENCY_CONFLICT')
  assert.ok(e instanceof Error)
  assert.ok(e instanceof passgate.IdempotencyConflictError)
  assert.match(e.message, /idempotency conflict/)
  const replay = await engine.enforceAsync({ gate: 'pay', passport, payload: { amount: 1 }, idempotencyKey: 'k' })
  assert.equal(replay.replayed, true)
})

test('the event loop runs while async decisions are computed', async () => {
  const { engine, agents } = capSetup()
  let ticks = 0
  const timer = setInterval(() => ticks++, 0)
  try {
    const calls = Array.from({ length: 200 }, (_, i) => engine.enforceAsync({ gate: 'spend', passport: agents[i % 8], payload: { amount: 0 } }))
    await Promise.all(calls)
  } finally {
    clearInterval(timer)
  }
  assert.ok(ticks >= 0)
})
