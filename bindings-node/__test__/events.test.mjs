// Decision events from Node: the outbox (events / ackEvent), notify, and subscribe(filter, fn)
// over a threadsafe function (called on the JS thread after the commit, never blocking the
// deciding thread; what fn throws never reaches the decision).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer, passgate, throwsCode } from './helpers.mjs'

const POLICY = {
  version: 1,
  gates: {
    wire: {
      require: ['wire'],
      constraints: [
        { id: 'cap', type: 'max_value', field: '/amount', max: 10000 },
        { id: 'big', type: 'approval', when: { field: '/amount', op: 'gt', value: 1000 } },
      ],
    },
  },
}

function world(policy = POLICY) {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'alice', permissions: ['wire'] })
  return { engine, passport }
}

/** Resolves once the JS thread has run what is queued before it (threadsafe calls included). */
const drain = () => new Promise((resolve) => setImmediate(() => setImmediate(resolve)))

test('events and ackEvent: an escalation with its notify, session and signed record', () => {
  const { engine, passport } = world()
  engine.enforce({ gate: 'wire', passport, payload: { amount: 10 } })
  const d = engine.enforce({ gate: 'wire', passport, payload: { amount: 2000 }, notify: 'https://hooks.example.com/x', mcpSessionId: 's-1' })
  assert.equal(d.decision, 'escalate')
  const page = engine.events()
  assert.deepEqual(page.events.map((e) => e.kind), ['escalation'])
  const e = page.events[0]
  assert.equal(e.evaluation_id, d.evaluationId)
  assert.equal(e.notify, 'https://hooks.example.com/x')
  assert.equal(e.session_id, 's-1')
  assert.equal(passgate.verifyAttestation(e.attestation, engine.signerDid), true)
  assert.deepEqual(engine.events({ since: page.cursor }), { events: [], cursor: null })
  assert.deepEqual(engine.ackEvent({ id: e.id }), { id: e.id, acked: true })
  assert.deepEqual(engine.ackEvent({ id: e.id }), { id: e.id, acked: false })
  throwsCode(() => engine.ackEvent({ id: 'evt_nope' }), 'EVENT_UNKNOWN')
  const bad = throwsCode(() => engine.enforce({ gate: 'wire', passport, payload: { amount: 1 }, notify: 'ftp://x' }), 'INVALID_ARGUMENT')
  assert.equal(bad.path, '/notify')
  assert.equal(throwsCode(() => engine.dryRun({ gate: 'wire', passport, payload: {}, notify: 'ops' }), 'INVALID_ARGUMENT').path, '/notify')
  assert.equal(throwsCode(() => engine.events({ limit: 0 }), 'INVALID_ARGUMENT').path, '/limit')
})

test('subscribe: after the commit, filtered, throwing fns reported, unsubscribe', async () => {
  const { engine, passport } = world()
  const seen = []
  const s2 = []
  const unsubscribe = engine.subscribe(null, (e) => {
    // The outbox already holds it: called after the commit.
    assert.ok(engine.events({ limit: 1000 }).events.some((x) => x.id === e.id))
    seen.push(e)
  })
  const stopBoom = engine.subscribe({ kinds: ['escalation'] }, () => {
    throw new Error("a subscriber's bug")
  })
  const stopS2 = engine.subscribe({ sessionId: 's-2' }, (e) => s2.push(e.id))
  const errors = []
  const original = console.error
  console.error = (...args) => errors.push(args.join(' '))
  try {
    const d = engine.enforce({ gate: 'wire', passport, payload: { amount: 2000 }, mcpSessionId: 's-1' })
    assert.equal(d.decision, 'escalate', 'a throwing subscriber never fails the decision')
    await engine.enforceAsync({ gate: 'wire', passport, payload: { amount: 2500 }, trace: { session_id: 's-2' } })
    engine.approve(d.evaluationId, 'cfo')
    engine.enforce({ gate: 'wire', passport, payload: { amount: 5 } }) // no event
    await drain()
  } finally {
    console.error = original
  }
  assert.deepEqual(seen.map((e) => e.kind), ['escalation', 'escalation', 'approval.resolved'])
  assert.equal(seen[2].outcome, 'approved')
  assert.deepEqual(seen, engine.events().events, 'subscribers see the outbox events')
  assert.deepEqual(s2, [seen[1].id])
  assert.equal(errors.filter((m) => m.includes('subscriber threw')).length, 2, errors.join('\n'))
  unsubscribe()
  unsubscribe()
  stopBoom()
  stopS2()
  engine.enforce({ gate: 'wire', passport, payload: { amount: 2600 } })
  await drain()
  assert.equal(seen.length, 3)
  assert.equal(throwsCode(() => engine.subscribe({ kinds: ['nope'] }, () => {}), 'INVALID_ARGUMENT').path, '/kinds/0')
  assert.equal(throwsCode(() => engine.subscribe({ kind: ['deny'] }, () => {}), 'INVALID_ARGUMENT').path, '/kind')
  assert.equal(throwsCode(() => engine.subscribe(null, 'no'), 'INVALID_ARGUMENT').path, '/fn')
})

test('denies are recorded only when the policy opts in', () => {
  const { engine, passport } = world({ ...POLICY, events: { kinds: ['deny'] } })
  engine.enforce({ gate: 'wire', passport, payload: { amount: 2000 } })
  engine.enforce({ gate: 'wire', passport, payload: { amount: 20000 } })
  assert.deepEqual(engine.events({ kinds: ['deny', 'escalation'] }).events.map((e) => e.kind), ['deny'])
})
