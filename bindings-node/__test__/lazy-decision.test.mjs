// The lazy decision (passgate.js `decisionOf`): `enforce` / `dryRun` return an object whose heavy
// fields (checks, remaining, attestation, approvalRequest, redactedPayload) are parsed on first
// read. It must be indistinguishable from the eager one (`JSON.parse(enforceText(...))`): same keys
// in the same order, same values, plain-object behaviour on read, write, delete, spread, clone.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { inspect } from 'node:util'

import { Engine, Issuer, passgate } from './helpers.mjs'

const decisionOf = passgate[Symbol.for('passgate.decisionOf')]
const HEAVY = ['checks', 'remaining', 'attestation', 'approvalRequest', 'redactedPayload']
const KEYS = [
  'decision', 'allowed', 'gate', 'agentId', 'passportId', 'mode', 'dryRun', 'evaluationId',
  'policyHash', 'checks', 'remaining', 'attestation', 'replayed', 'holdId', 'approvalRequest',
  'redactedPayload',
]

const POLICY = {
  version: 1,
  gates: {
    pay: {
      require: ['pay'],
      constraints: [
        { id: 'per-call', type: 'max_value', field: '/amount', max: 500 },
        { id: 'cap', type: 'spend_limit', field: '/amount', max: 1000, window: '1d' },
        { id: 'to', type: 'allowed_values', field: '/to', values: ['bob', 'x\n"]}\u2028'] },
        { id: 'big', type: 'approval', when: { field: '/amount', op: 'gt', value: 300 } },
      ],
    },
    mail: { require: ['pay'], constraints: [{ id: 'pii', type: 'pii', mode: 'redact' }] },
  },
}

function world() {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  const passport = issuer.issuePassport({ agentId: 'a\n"]}\u2028', permissions: ['pay'] })
  return { issuer, engine, passport }
}

/**
 * One decision in both forms: the eager text first (with an idempotency key), then the lazy one
 * replayed from the idempotency store (the same evaluation; only `replayed` differs).
 */
function both(engine, req, key) {
  const eager = JSON.parse(engine.enforceText({ ...req, idempotencyKey: key }))
  const lazy = engine.enforce({ ...req, idempotencyKey: key })
  assert.equal(lazy.replayed, true)
  return { eager: { ...eager, replayed: true }, lazy }
}

/** Every key's property descriptor: accessor (lazy, unread) or data. */
const kinds = (d) => KEYS.map((k) => ('value' in Object.getOwnPropertyDescriptor(d, k) ? 'data' : 'accessor'))

const CASES = [
  ['allow', { gate: 'pay', payload: { amount: 100, to: 'bob' } }],
  ['deny', { gate: 'pay', payload: { amount: 900, to: 'x\n"]}\u2028' } }],
  ['escalate', { gate: 'pay', payload: { amount: 400, to: 'bob' } }],
  ['allow', { gate: 'mail', payload: { text: 'write to alice@example.com\n"]}', n: 1e308, z: -0, big: 123456789012345678901234567890n } }],
]

for (const [verdict, base] of CASES) {
  test(`${verdict} (${base.gate}): the lazy decision equals the eager one`, () => {
    const { engine, passport } = world()
    const { eager, lazy } = both(engine, { ...base, passport }, `k-${verdict}`)
    assert.equal(lazy.decision, verdict)
    assert.deepEqual(Object.keys(lazy), KEYS)
    assert.equal(Object.getPrototypeOf(lazy), Object.prototype)
    // Nothing heavy is parsed before it is read.
    assert.deepEqual(kinds(lazy).filter((k) => k === 'accessor').length, HEAVY.length)
    assert.equal(JSON.stringify(lazy), JSON.stringify(eager))
    assert.deepEqual(lazy, eager)
    assert.deepEqual({ ...lazy }, eager)
    assert.deepEqual(structuredClone(lazy), eager)
    assert.deepEqual(JSON.parse(JSON.stringify(lazy)), eager)
    assert.deepEqual(Object.entries(lazy), Object.entries(eager))
    // Read, the heavy keys stay accessors returning the parsed values, in their places.
    assert.deepEqual(kinds(lazy).filter((k) => k === 'accessor').length, HEAVY.length)
    assert.deepEqual(Object.keys(lazy), KEYS)
  })
}

test('dry runs: sync and async lazy decisions equal the eager one (but for the evaluation id)', async () => {
  const { engine, passport } = world()
  for (const [, base] of CASES) {
    const req = { ...base, passport }
    const eager = JSON.parse(engine.dryRunText(req))
    for (const lazy of [engine.dryRun(req), await engine.dryRunAsync(req)]) {
      assert.deepEqual(Object.keys(lazy), KEYS)
      assert.match(lazy.evaluationId, /^evl_/)
      assert.notEqual(lazy.evaluationId, eager.evaluationId)
      // The evaluation id is also in an approval request: compare with it swapped everywhere.
      assert.deepEqual(JSON.parse(JSON.stringify(lazy).replaceAll(lazy.evaluationId, eager.evaluationId)), eager)
    }
  }
})

test('enforceAsync returns the lazy decision, equal to the eager one', async () => {
  const { engine, passport } = world()
  const req = { gate: 'pay', passport, payload: { amount: 400, to: 'bob' }, idempotencyKey: 'k' }
  const eager = JSON.parse(engine.enforceText(req))
  const lazy = await engine.enforceAsync(req)
  assert.equal(lazy.attestation.body.evaluation_id, eager.evaluationId)
  assert.deepEqual(lazy, { ...eager, replayed: true })
})

test('enforceText holds the attestation record as its canonical text, joined exactly', () => {
  const { engine, passport } = world()
  const text = engine.enforceText({ gate: 'pay', passport, payload: { amount: 400, to: 'bob' } })
  const eager = JSON.parse(text)
  // The record is canonical JSON (sorted keys, ES number forms), so JSON.stringify of its parse
  // is the record's own text; it sits in the decision text between `"attestation":` and the
  // members after it, byte for byte.
  const record = JSON.stringify(eager.attestation)
  assert.ok(text.includes(`,"attestation":${record},"replayed":false,`), text)
  assert.equal(text, JSON.stringify(eager))
  assert.deepEqual(Object.keys(eager), [
    'decision', 'allowed', 'gate', 'agentId', 'passportId', 'mode', 'dryRun', 'evaluationId',
    'policyHash', 'checks', 'remaining', 'attestation', 'replayed', 'holdId', 'approvalRequest',
    'redactedPayload',
  ])
  const dry = engine.dryRunText({ gate: 'pay', passport, payload: { amount: 1, to: 'bob' } })
  assert.ok(dry.includes(',"attestation":null,"replayed":false,'), dry)
  assert.equal(dry, JSON.stringify(JSON.parse(dry)))
})

test('a heavy field is parsed once and cached: the same object on every read', () => {
  const { engine, passport } = world()
  const d = engine.enforce({ gate: 'pay', passport, payload: { amount: 400, to: 'bob' } })
  const checks = d.checks
  assert.equal(d.checks, checks)
  assert.equal(d.approvalRequest, d.approvalRequest)
  assert.equal(d.attestation, d.attestation)
  assert.equal(typeof d.attestation.sig, 'string')
  // The heavy part is parsed once for all its fields.
  const e = engine.dryRun({ gate: 'pay', passport, payload: { amount: 1, to: 'bob' } })
  const remaining = e.remaining
  assert.equal(e.checks, e.checks)
  assert.equal(e.remaining, remaining)
})

test('writes, deletes and mutations stick as on a plain object', () => {
  const { engine, passport } = world()
  const req = { gate: 'pay', passport, payload: { amount: 100, to: 'bob' } }
  // Assigned before any read.
  const d = engine.dryRun(req)
  d.checks = 'mine'
  assert.equal(d.checks, 'mine')
  assert.deepEqual(Object.getOwnPropertyDescriptor(d, 'checks'), { value: 'mine', writable: true, enumerable: true, configurable: true })
  assert.deepEqual(Object.keys(d), KEYS, 'an assignment keeps the key in its place')
  // Assigned after a read; the parsed array is the caller's to change.
  d.remaining.extra = '1'
  assert.equal(d.remaining.extra, '1')
  d.attestation = { mine: true }
  assert.deepEqual(d.attestation, { mine: true })
  delete d.redactedPayload
  assert.equal('redactedPayload' in d, false)
  d.approvalRequest = undefined
  assert.equal(d.approvalRequest, undefined)
  d.allowed = false
  assert.equal(d.allowed, false)
  // An object inheriting from a decision reads it as it would a plain one, and its writes are
  // its own.
  const e = engine.dryRun(req)
  const child = Object.create(e)
  assert.ok(Array.isArray(child.checks))
  child.checks = []
  assert.deepEqual(child.checks, [])
  assert.ok(e.checks.length > 0)
  assert.equal(Object.hasOwn(child, 'remaining'), false)
})

test('a frozen lazy decision reads the same values and refuses writes', () => {
  const { engine, passport } = world()
  const d = Object.freeze(engine.enforce({ gate: 'pay', passport, payload: { amount: 400, to: 'bob' } }))
  const checks = d.checks
  assert.ok(checks.length > 0)
  assert.equal(d.checks, checks)
  assert.equal(d.approvalRequest.fingerprint, d.approvalRequest.fingerprint)
  assert.throws(() => {
    d.checks = []
  }, TypeError)
  assert.throws(() => {
    d.allowed = true
  }, TypeError)
  assert.equal(d.checks, checks)
})

test('util.inspect shows the heavy fields, not getters', () => {
  const { engine, passport } = world()
  const d = engine.dryRun({ gate: 'pay', passport, payload: { amount: 100, to: 'bob' } })
  const shown = inspect(d, { depth: 4 })
  assert.doesNotMatch(shown, /Getter|Setter/)
  assert.match(shown, /checks: \[/)
  assert.equal(shown, inspect(JSON.parse(JSON.stringify(d)), { depth: 4 }))
})

test('adversarial decision text: newlines and separators in every string cannot split it wrongly', () => {
  // decisionOf cuts at the first '\n', which compact JSON escapes inside strings.
  const d = decisionOf('["allow",true,"g\\n",null,null,"enforce",true,"evl_\\u2028",null,false,null]\n[[{"message":"a\\nb"}],{"k\\n":"1"},null,null,{"x":"\\n]"}]')
  assert.deepEqual(JSON.parse(JSON.stringify(d)), {
    decision: 'allow', allowed: true, gate: 'g\n', agentId: null, passportId: null, mode: 'enforce',
    dryRun: true, evaluationId: 'evl_\u2028', policyHash: null, checks: [{ message: 'a\nb' }],
    remaining: { 'k\n': '1' }, attestation: null, replayed: false, holdId: null, approvalRequest: null,
    redactedPayload: { x: '\n]' },
  })
})

test('adversarial payloads: huge and odd values decide the same lazily and eagerly', () => {
  const { engine, passport } = world()
  const long = 'x\n'.repeat(200_000) + 'a@example.com'
  const payloads = [
    { text: long },
    { amount: 1e308, to: 'bob' },
    { amount: 123456789012345678901234567890n, to: 'bob' },
    { amount: '999999999999999999999999999999999', to: 'x\n"]}\u2028' },
    { amount: -0, to: '\u0000\u001f\ud800'.slice(0, 2) },
    { text: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k\n${i}`, `v\n${i}@example.com`])) },
  ]
  payloads.forEach((payload, i) => {
    for (const gate of ['pay', 'mail']) {
      const { eager, lazy } = both(engine, { gate, passport, payload }, `adv-${gate}-${i}`)
      assert.equal(JSON.stringify(lazy), JSON.stringify(eager))
      assert.deepEqual(lazy, eager)
    }
  })
})
