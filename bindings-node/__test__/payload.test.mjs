// Converting JS payloads: numbers exactly as JS holds them, BigInt exactly, non-JSON refused with
// PAYLOAD_INVALID and the JSON Pointer of the culprit, depth and size bounded.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { setup, throwsCode } from './helpers.mjs'

const { engine, passport } = setup()

/** The per-call check of a dry run with `payload`. */
function perCall(payload) {
  return engine.dryRun({ gate: 'pay', passport, payload }).checks.find((c) => c.constraint === 'per-call')
}
const observed = (amount) => perCall({ amount }).observed
const refused = (payload, code = 'PAYLOAD_INVALID') => throwsCode(() => engine.dryRun({ gate: 'pay', passport, payload }), code)

test('numbers are read as their shortest round-trip decimal', () => {
  assert.equal(observed(0.1), '0.1')
  assert.equal(observed(0.1 + 0.2), '0.30000000000000004')
  assert.equal(observed(120), '120')
  assert.equal(observed(-0), '0')
  assert.equal(observed(1e21), '1000000000000000000000')
  assert.equal(observed(1e-7), '0.0000001')
  assert.equal(observed(2 ** 53 + 2), '9007199254740994')
  assert.equal(observed(2 ** 60), '1152921504606847000') // JS's own String(2 ** 60)
  assert.equal(observed(-123.456), '-123.456')
})

test('decimal strings stay exact', () => {
  assert.equal(observed('0.1000000000000000001'), '0.1000000000000000001')
  assert.equal(observed('400.00'), '400')
})

test('BigInt is read exactly', () => {
  assert.equal(observed(12345678901234567890123n), '12345678901234567890123')
  assert.equal(observed(-(2n ** 64n)), '-18446744073709551616')
  assert.equal(observed(0n), '0')
  assert.equal(observed(499n), '499')
  assert.equal(perCall({ amount: 499n }).passed, true)
  // Beyond ~385 digits a BigInt is refused rather than rounded.
  const e = refused({ amount: 2n ** 1300n })
  assert.match(e.message, /at \/amount: a BigInt of \d+ bits is too large/)
})

test('NaN and infinities are refused, with the path', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    const e = refused({ amount: bad })
    assert.match(e.message, /payload invalid at \/amount/)
  }
  const e = refused({ items: [{ price: 1 }, { price: NaN }] })
  assert.match(e.message, /at \/items\/1\/price/)
})

test('functions, symbols, undefined items and non-plain objects are refused', () => {
  assert.match(refused({ f: () => 1 }).message, /at \/f: a function is not JSON/)
  assert.match(refused({ s: Symbol('x') }).message, /a symbol is not JSON/)
  assert.match(refused({ d: new Date(0) }).message, /at \/d: a Date is not a plain object/)
  assert.match(refused({ m: new Map() }).message, /an instance of Map/)
  assert.match(refused({ set: new Set([1]) }).message, /an instance of Set/)
  class Money { constructor() { this.amount = 1 } }
  assert.match(refused({ money: new Money() }).message, /an instance of Money/)
  assert.match(refused({ buf: Buffer.from('x') }).message, /typed array or Buffer/)
  assert.match(refused({ n: new Number(1) }).message, /not a plain object/)
  assert.match(refused({ a: [1, undefined] }).message, /at \/a\/1: undefined is not JSON/)
  // eslint-disable-next-line no-sparse-arrays
  assert.match(refused({ a: [1, , 3] }).message, /at \/a\/1/)
  refused(new Date(0))
  refused('amount=1')
  refused([1])
})

test('a key with / or ~ is escaped in the pointer', () => {
  assert.match(refused({ 'a/b': { 'c~d': NaN } }).message, /at \/a~1b\/c~0d/)
})

test('undefined properties are absent, symbol keys ignored, null prototypes accepted', () => {
  const check = perCall({ amount: undefined })
  assert.equal(check.passed, false)
  assert.match(check.message, /missing/)
  assert.equal(perCall({ amount: 1, [Symbol('k')]: 'ignored' }).passed, true)
  const bare = Object.create(null)
  bare.amount = 2
  assert.equal(perCall(bare).observed, '2')
  assert.equal(engine.dryRun({ gate: 'pay', passport }).checks.find((c) => c.constraint === 'per-call').passed, false)
  assert.equal(engine.dryRun({ gate: 'pay', passport, payload: null }).decision, 'deny')
})

test('only own enumerable properties are read (no prototype pollution)', () => {
  Object.prototype.amount = 1 // eslint-disable-line no-extend-native
  try {
    assert.equal(perCall({}).passed, false)
  } finally {
    delete Object.prototype.amount
  }
  const hidden = {}
  Object.defineProperty(hidden, 'amount', { value: 1, enumerable: false })
  assert.equal(perCall(hidden).passed, false)
})

test('strings: real U+FFFD is kept, a lone surrogate refused', () => {
  assert.equal(engine.dryRun({ gate: 'pay', passport, payload: { amount: 1, note: 'a\uFFFDb' } }).decision, 'allow')
  assert.match(refused({ note: 'a\uD800b' }).message, /lone UTF-16 surrogate/)
  assert.equal(engine.dryRun({ gate: 'pay', passport, payload: { amount: 1, note: '😀 ünïcödé' } }).decision, 'allow')
})

test('nesting deeper than 64 and cycles are LIMIT_EXCEEDED; 63 levels are fine', () => {
  const nest = (n) => {
    let v = {}
    for (let i = 0; i < n; i++) v = { v }
    return v
  }
  assert.equal(engine.dryRun({ gate: 'pay', passport, payload: { amount: 1, deep: nest(62) } }).decision, 'allow')
  refused({ amount: 1, deep: nest(64) }, 'LIMIT_EXCEEDED')
  const cyclic = { amount: 1 }
  cyclic.self = cyclic
  refused(cyclic, 'LIMIT_EXCEEDED')
  let arr = []
  for (let i = 0; i < 100_000; i++) arr = [arr]
  refused({ arr }, 'LIMIT_EXCEEDED')
})

test('oversized payloads are LIMIT_EXCEEDED, fast', () => {
  refused({ s: 'x'.repeat(2 << 20) }, 'LIMIT_EXCEEDED')
  const sparse = []
  sparse.length = 4_000_000_000
  const t = performance.now()
  refused({ sparse }, 'LIMIT_EXCEEDED')
  assert.ok(performance.now() - t < 1000)
  refused({ many: Array.from({ length: 300_000 }, () => 1234) }, 'LIMIT_EXCEEDED')
})

test('a throwing getter propagates its own error', () => {
  const boom = new Error('boom')
  const payload = { amount: 1 }
  Object.defineProperty(payload, 'x', { enumerable: true, get() { throw boom } })
  assert.throws(() => engine.dryRun({ gate: 'pay', passport, payload }), (e) => e === boom)
})

test('trace: any JSON object, recorded as given', () => {
  const d = engine.enforce({ gate: 'pay', passport, payload: { amount: 1 }, trace: { session: 's-1', request: 7, nested: { ok: true } } })
  assert.deepEqual(d.attestation.body.trace, { session: 's-1', request: '7', nested: { ok: true } })
  throwsCode(() => engine.enforce({ gate: 'pay', passport, payload: { amount: 1 }, trace: 'no' }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ gate: 'pay', passport, payload: { amount: 1 }, trace: { f: NaN } }), 'INVALID_ARGUMENT')
})

test('request options are checked', () => {
  throwsCode(() => engine.enforce(), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce('pay'), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ payload: {} }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ gate: 1 }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ gate: 'pay', passport: 42 }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ gate: 'pay', idempotency_key: 'k' }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ gate: 'pay', hold: 'yes' }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ gate: '' }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.enforce({ gate: 'pay', passport: 'x'.repeat(70_000) }), 'LIMIT_EXCEEDED')
  // null and undefined options are absent.
  assert.equal(engine.dryRun({ gate: 'pay', passport, payload: { amount: 1 }, idempotencyKey: null, client: undefined }).decision, 'allow')
})

test('the JSON.stringify fast path and the native walk read payloads identically', () => {
  const { engine: e, passport: p } = setup({ version: 1, gates: { g: { require: ['pay'] } } })
  const payloads = [
    {},
    { amount: 0.1, big: 1e21, neg: -0, tiny: 5e-324, huge: 1.7976931348623157e308, p60: 2 ** 60, small: -1e-7 },
    { nested: { a: [1, 2.5, [true, false, null]], b: { c: 'd' } }, '': 'empty key', 'a/b~c': 1 },
    { 10: 'ten', 2: 'two', b: 1, a: 2 },
    { text: '😀 ünïcödé \u2028 "quotes" \\ \n\t', fffd: '\uFFFD' },
    { list: Array.from({ length: 50 }, (_, i) => ({ i, x: i / 3 })) },
  ]
  for (const payload of payloads) {
    // A null-prototype root is not taken by the fast path: the native walk reads it.
    const walked = Object.assign(Object.create(null), payload)
    const fast = e.enforce({ gate: 'g', passport: p, payload })
    const slow = e.enforce({ gate: 'g', passport: p, payload: walked })
    assert.equal(fast.attestation.body.request_hash, slow.attestation.body.request_hash, JSON.stringify(payload))
    assert.deepEqual(fast.checks, slow.checks)
  }
  // And a fast-path payload hashes differently from a different one.
  const a = e.enforce({ gate: 'g', passport: p, payload: { x: 0.1 } }).attestation.body.request_hash
  const b = e.enforce({ gate: 'g', passport: p, payload: { x: '0.1000000000000000001' } }).attestation.body.request_hash
  assert.notEqual(a, b)
})

test('prototype pollution of toJSON does not reach the payload', () => {
  const { engine: e, passport: p } = setup()
  Object.prototype.toJSON = () => ({ amount: 1 }) // eslint-disable-line no-extend-native
  try {
    assert.equal(e.dryRun({ gate: 'pay', passport: p, payload: { amount: 900 } }).checks.find((c) => c.constraint === 'per-call').observed, '900')
  } finally {
    delete Object.prototype.toJSON
  }
})
