// The plain route (passgate.js): `enforce` / `dryRun` of a request holding only `gate`, `passport`
// and a plain-data `payload` cross as three arguments (`enforcePartsPlain` / `dryRunPartsPlain`)
// instead of a request object the native side reads key by key. It must not be observable: the
// same request taken the object route (forced here by one more key whose value is `undefined`,
// which both routes treat as absent) gives the same decision and the same errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer, PAY_POLICY, passgate } from './helpers.mjs'

const { PassgateError } = passgate

/** The helpers' `pay` gate, and a gate with no constraints. */
const POLICY = { ...PAY_POLICY, gates: { ...PAY_POLICY.gates, open: {} } }

/** Two engines alike (the same issuer, policy and signing key, each its own memory store) and a
 * passport for agent `a`: one for each route, so that `enforce` sees the same state on both. */
function world() {
  const issuer = Issuer.generate()
  const signer = Issuer.generate()
  const make = () => new Engine({ policy: POLICY, trustedIssuers: [issuer.did], signingKey: signer })
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['pay'] })
  return { engine: make(), twin: make(), passport }
}

/** The same request, taken the object route. */
const objectRoute = (req) => ({ ...req, trace: undefined })

/** What a call gave, awaited: its decision (the evaluation id and the attestation, which hold a
 * fresh id and the time, left out) or its error's code, path and message. */
async function outcome(fn) {
  try {
    const d = await fn()
    return { decision: JSON.parse(JSON.stringify({ ...d, evaluationId: 'evl', attestation: Boolean(d.attestation) })) }
  } catch (err) {
    return { code: err.code, path: err.path, message: err.message, passgate: err instanceof PassgateError }
  }
}

test('the plain route and the object route give the same decisions and the same errors', async () => {
  const { engine, twin, passport } = world()
  const token = passport.token
  const requests = [
    { gate: 'pay', passport: token, payload: { amount: 100 } },
    { gate: 'pay', passport, payload: { amount: 100 } },
    { gate: 'pay', passport: token, payload: { amount: 900 } },
    { gate: 'pay', passport: null, payload: { amount: 100 } },
    { gate: 'pay', payload: { amount: 100 } },
    { gate: 'open', payload: {} },
    { passport: token, payload: { amount: 1 } },
    { gate: null, passport: token, payload: { amount: 1 } },
    { gate: 7, passport: token, payload: { amount: 1 } },
    { gate: ['pay'], passport: token, payload: { amount: 1 } },
    { gate: 'pay\uD800', passport: token, payload: { amount: 1 } },
    { gate: 'nope', passport: token, payload: { amount: 1 } },
    { gate: 'pay', passport: 5, payload: { amount: 1 } },
    { gate: 'pay', passport: {}, payload: { amount: 1 } },
    { gate: 'pay', passport: 'x\uD800', payload: { amount: 1 } },
    { gate: 'pay', passport: 'not-a-token', payload: { amount: 1 } },
    { gate: 'pay', passport: token, payload: { amount: 'x\uD800' } },
    { gate: 'pay', passport: token, payload: { amount: 1, deep: [[[[{}]]]] } },
  ]
  let errors = 0
  for (const method of ['dryRun', 'enforce', 'dryRunAsync', 'enforceAsync']) {
    for (const req of requests) {
      const plain = await outcome(() => engine[method](req))
      const object = await outcome(() => twin[method](objectRoute(req)))
      assert.deepEqual(plain, object, `${method} ${JSON.stringify(req)}`)
      if (plain.code !== undefined) {
        errors += 1
        assert.equal(plain.passgate, true, `${method}: ${plain.message}`)
      }
    }
  }
  // Both verdicts and refusals were compared (not only allows).
  assert.equal(errors, 36)
})

test('the plain route counts and attests as the object route does', () => {
  const { engine, passport } = world()
  const a = engine.enforce({ gate: 'pay', passport, payload: { amount: 600 } })
  const b = engine.enforce(objectRoute({ gate: 'pay', passport, payload: { amount: 600 } }))
  assert.equal(a.decision, 'deny')
  assert.equal(b.decision, 'deny')
  const c = engine.enforce({ gate: 'pay', passport, payload: { amount: 400 } })
  const d = engine.enforce(objectRoute({ gate: 'pay', passport, payload: { amount: 400 } }))
  assert.equal(c.allowed, true)
  assert.equal(d.allowed, true)
  // 800 of 1,000 spent: a third 400 is refused by the cumulative cap, whichever route it takes.
  for (const req of [{ gate: 'pay', passport, payload: { amount: 400 } }]) {
    assert.equal(engine.enforce(req).allowed, false)
    assert.equal(engine.enforce(objectRoute(req)).allowed, false)
  }
  assert.equal(c.attestation.body.gate, 'pay')
  assert.equal(d.attestation.body.seq, c.attestation.body.seq + 1)
})

test('the plain route reads each of gate, passport and payload once, and a getter\'s own error is its own', async () => {
  const { engine, passport } = world()
  const reads = { gate: 0, passport: 0, payload: 0 }
  const req = {
    get gate() {
      reads.gate += 1
      return 'pay'
    },
    get passport() {
      reads.passport += 1
      return passport
    },
    get payload() {
      reads.payload += 1
      return { amount: 1 }
    },
  }
  assert.equal(engine.dryRun(req).allowed, true)
  assert.deepEqual(reads, { gate: 1, passport: 1, payload: 1 })

  const boom = new Error('boom')
  const throwing = {
    get gate() {
      throw boom
    },
    passport,
    payload: { amount: 1 },
  }
  assert.throws(() => engine.dryRun(throwing), (err) => err === boom && !(err instanceof PassgateError))
  // The promise forms reject with it, never throw.
  let promise
  assert.doesNotThrow(() => {
    promise = engine.dryRunAsync(throwing)
  })
  await assert.rejects(promise, (err) => err === boom && !(err instanceof PassgateError))
  reads.gate = 0
  reads.passport = 0
  reads.payload = 0
  assert.equal((await engine.enforceAsync(req)).allowed, true)
  assert.deepEqual(reads, { gate: 1, passport: 1, payload: 1 })
})

test('an inherited gate or passport is not read, on either route (the native side reads own keys)', async () => {
  const { engine, twin, passport } = world()
  /** A request inheriting `inherited`, with `own` its own properties. */
  const make = (inherited, own) => Object.assign(Object.create(inherited), own)
  const cases = [
    [{ gate: 'pay' }, { payload: { amount: 1 } }],
    [{ gate: 'pay' }, { gate: undefined, payload: { amount: 1 } }],
    [{ passport }, { gate: 'pay', payload: { amount: 1 } }],
    [{ gate: 'pay', passport }, { payload: { amount: 1 } }],
  ]
  for (const [inherited, own] of cases) {
    for (const method of ['dryRun', 'dryRunAsync']) {
      const plain = await outcome(() => engine[method](make(inherited, own)))
      const object = await outcome(() => twin[method](make(inherited, { ...own, trace: undefined })))
      assert.deepEqual(plain, object, `${method} ${JSON.stringify(inherited)} ${JSON.stringify(own)}`)
    }
  }
  // A gate only inherited is a missing gate; a passport only inherited is no passport.
  assert.throws(
    () => engine.dryRun(make({ gate: 'pay', passport }, { payload: { amount: 1 } })),
    (err) => err.code === 'INVALID_ARGUMENT' && err.path === '/gate',
  )
  const d = engine.dryRun(make({ passport }, { gate: 'pay', payload: { amount: 1 } }))
  assert.equal(d.allowed, false)
  assert.equal(d.agentId, null)
})
