// The binding's surface from one source (issue 15): error families and check codes from the core,
// `.path` on errors, argument errors as passgate errors (never napi's), lone surrogates refused in
// every string argument, promise forms that never throw, and the injectable clock.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { passgate, setup, Engine, Issuer, PAY_POLICY } from './helpers.mjs'

const { InputError, PassportError, PolicyError, PassgateError } = passgate

test('error families come from the core: every code in one family, KEY_INVALID a PassportError', () => {
  const families = passgate.errorFamilies()
  assert.deepEqual(Object.keys(families).sort(), [...passgate.errorCodes()].sort())
  assert.equal(families.KEY_INVALID, 'PassportError')
  assert.equal(families.HOLD_UNKNOWN, 'InputError')
  assert.equal(families.APPROVAL_CLOSED, 'InputError')
  assert.equal(families.INTERNAL, null)
  for (const [name, codes] of Object.entries(passgate.ERROR_FAMILIES)) {
    for (const code of codes) assert.equal(families[code], name, code)
    const cls = passgate[name]
    assert.equal(typeof cls, 'function', name)
    for (const code of codes) assert.ok(Object.assign(new Error('x'), { code }) instanceof cls, `${code} instanceof ${name}`)
  }
  const key = Object.assign(new Error('x'), { code: 'KEY_INVALID' })
  assert.ok(key instanceof PassportError)
  assert.ok(!(key instanceof InputError))
  assert.ok(passgate.checkCodes().includes('PERMISSION_DENIED'))
  assert.ok(passgate.checkCodes().includes('APPROVAL_REQUIRED'))
})

test('the generated types are not stale (errors.d.ts from the native lists)', () => {
  const script = fileURLToPath(new URL('../scripts/gen-types.mjs', import.meta.url))
  const r = spawnSync(process.execPath, [script, '--check'], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
})

test('errors carry .path: policy and payload errors at their JSON pointer, others null', () => {
  const bad = { version: 1, gates: { pay: { require: ['pay'], constraints: [{ type: 'max_value', field: '/amount' }] } } }
  const err = (() => { try { new Engine({ policy: bad }) } catch (e) { return e } })()
  assert.ok(err instanceof PolicyError)
  assert.equal(typeof err.path, 'string')
  assert.match(err.path, /^\/gates\/pay/)
  const { engine, passport } = setup()
  assert.throws(() => engine.enforce({ gate: 'pay', passport, payload: { a: [1, () => 1] } }), (e) => {
    assert.equal(e.code, 'PAYLOAD_INVALID')
    assert.equal(e.path, '/a/1')
    return true
  })
  assert.throws(() => engine.approve('evl_missing', 'cfo'), (e) => {
    assert.equal(e.code, 'APPROVAL_UNKNOWN')
    assert.equal(e.path, null)
    return true
  })
  assert.equal(new InputError('x').path, null)
})

test('argument errors are InputErrors, never napi wording', () => {
  const { engine } = setup()
  const cases = [
    () => engine.settle(123),
    () => engine.release({}),
    () => engine.revokePassport(),
    () => engine.approve('evl_x', 'cfo', {}),
    () => engine.getGate(42),
    () => engine.recordAttestation(7),
    () => engine.expireHolds('ten'),
    () => engine.denyApproval(1, 2),
    () => engine.verifyStore('did:key:z'),
    () => engine.cumulativeState({ agent_id: 'a' }),
    () => engine.attestations({ nope: 1 }),
  ]
  for (const f of cases) {
    assert.throws(f, (e) => {
      assert.ok(e instanceof InputError, `${f}: ${e.code} ${e.message}`)
      assert.doesNotMatch(e.message, /StringExpected|NumberExpected|ObjectExpected|Failed to/)
      return true
    })
  }
  assert.throws(() => engine.revokePassport(), (e) => /passport_id/.test(e.message))
  assert.throws(() => engine.settle(123), (e) => e.path === '/holdId' || e.path === null)
  assert.throws(() => engine.cumulativeState({ agent_id: 'a' }), (e) => /agentId/.test(e.message) && e.path === '/agent_id')
})

test('approve takes the TTL as seconds or as a duration string', () => {
  const policy = { version: 1, gates: { pay: { require: ['pay'], constraints: [{ id: 'ok', type: 'approval', when: { field: '/amount', op: 'gt', value: 100 } }] } } }
  const { engine, passport } = setup(policy)
  const esc = () => engine.enforce({ gate: 'pay', passport, payload: { amount: 500 } })
  let d = esc()
  assert.equal(d.decision, 'escalate')
  assert.equal(typeof engine.approve(d.evaluationId, 'cfo', 3600), 'string')
  d = esc()
  assert.equal(typeof engine.approve(d.evaluationId, 'cfo', '15m'), 'string')
  d = esc()
  assert.throws(() => engine.approve(d.evaluationId, 'cfo', {}), InputError)
  assert.throws(() => engine.approve(d.evaluationId, 'cfo', -5), InputError)
})

test('lone surrogates are refused in every string argument, never replaced', () => {
  const { engine, passport } = setup()
  const base = { gate: 'pay', passport, payload: { amount: 1 } }
  for (const key of ['order-\ud800', 'order-\udfff']) {
    assert.throws(() => engine.enforce({ ...base, idempotencyKey: key }), (e) => {
      assert.ok(e instanceof InputError, e.message)
      assert.equal(e.path, '/idempotencyKey')
      return true
    })
  }
  assert.throws(() => engine.enforce({ gate: 'pay\ud800', passport, payload: {} }), InputError)
  assert.throws(() => engine.dryRun({ gate: 'x', client: '\udc00' }), InputError)
  assert.throws(() => engine.enforce({ ...base, approval: 'a\ud800' }), InputError)
  assert.throws(() => engine.settle('hld_\ud800'), (e) => e instanceof InputError && e.path === '/holdId')
  assert.throws(() => engine.approve('evl_\ud800', 'cfo'), InputError)
  assert.throws(() => engine.revokePassport('psp_\udfff'), InputError)
  assert.throws(() => engine.getGate('\ud800'), InputError)
  assert.throws(() => engine.attestations({ gate: '\ud800' }), InputError)
  assert.throws(() => passgate.verifyChain([], 'did:\ud800'), InputError)
  // A real U+FFFD is data like any other character.
  const ok = engine.enforce({ ...base, idempotencyKey: 'order-\ufffd' })
  assert.equal(ok.decision, 'allow')
})

test('enforceAsync / dryRunAsync reject (never throw) when a getter or a Proxy trap throws', async () => {
  const { engine, passport } = setup()
  const boom = new Error('boom')
  const getter = { gate: 'pay', passport, get payload() { throw boom } }
  const proxy = new Proxy({ gate: 'pay', passport }, { ownKeys() { throw boom }, get() { throw boom } })
  const payloadProxy = { gate: 'pay', passport, payload: new Proxy({}, { ownKeys() { throw boom } }) }
  for (const method of ['enforceAsync', 'dryRunAsync']) {
    for (const request of [getter, proxy, payloadProxy]) {
      let pending
      assert.doesNotThrow(() => { pending = engine[method](request) })
      await assert.rejects(pending, (e) => e === boom)
    }
    await assert.rejects(engine[method]({ gate: 'pay', passport, idempotencyKey: 7 }), InputError)
  }
})

test('an injected clock is read once per call and moves windows', async () => {
  // The start of the next hour plus a minute: a fixed window starts on the hour.
  let now = Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 60_000
  let reads = 0
  const clock = () => { reads++; return now }
  const policy = { version: 1, gates: { pay: { require: ['pay'], constraints: [{ id: 'cap', type: 'spend_limit', field: '/amount', max: 100, window: '1h' }] } } }
  const { engine, passport } = setup(policy, { clock })
  const pay = (amount) => engine.enforce({ gate: 'pay', passport, payload: { amount } })
  reads = 0
  assert.equal(pay(80).decision, 'allow')
  assert.equal(reads, 1)
  assert.equal(pay(30).decision, 'deny')
  now += 30 * 60 * 1000
  assert.equal(pay(30).decision, 'deny') // the same window
  now += 31 * 60 * 1000 // past the hour: the window rolled over
  assert.equal(pay(30).decision, 'allow')
  reads = 0
  const d = await engine.enforceAsync({ gate: 'pay', passport, payload: { amount: 1 } })
  assert.equal(d.attestation.body.time, now)
  assert.equal(reads, 1)
  const [c] = engine.cumulativeState({ gate: 'pay' })
  assert.equal(c.used, '31')
})

test('a bad clock is an InputError; a throwing clock rejects the async forms', async () => {
  const { passport } = setup()
  assert.throws(() => new Engine({ policy: PAY_POLICY, clock: 5 }), (e) => e instanceof InputError && e.path === '/clock')
  for (const v of [NaN, 'soon', undefined, Infinity, {}]) {
    assert.throws(() => new Engine({ policy: PAY_POLICY, clock: () => v }), (e) => e instanceof InputError && e.path === '/clock', String(v))
  }
  let value = Date.now()
  const engine = new Engine({ policy: PAY_POLICY, trustedIssuers: [], clock: () => value })
  value = 'later'
  assert.throws(() => engine.dryRun({ gate: 'pay', passport }), InputError)
  const boom = new Error('clock broke')
  const broken = new Engine({ policy: PAY_POLICY, clock: () => { if (value === 'throw') throw boom; return Date.now() } })
  value = 'throw'
  assert.throws(() => broken.dryRun({ gate: 'pay' }), (e) => e === boom)
  await assert.rejects(broken.dryRunAsync({ gate: 'pay' }), (e) => e === boom)
})

test('the text route and the native walk read the same decision', () => {
  const { engine, passport } = setup()
  const req = { gate: 'pay', passport, payload: { amount: 600 } }
  const viaStringify = engine.dryRun(req)
  const viaWalk = JSON.parse(engine.dryRunText(req))
  assert.deepEqual(Object.keys(viaWalk), Object.keys(viaStringify))
  assert.equal(viaWalk.decision, viaStringify.decision)
  assert.deepEqual(viaWalk.checks, viaStringify.checks)
  assert.equal(typeof engine.enforceText(req, JSON.stringify(req.payload)), 'string')
  assert.throws(() => engine.enforceText(req, 42), InputError)
})

test('no hidden arguments or patched native methods', () => {
  const proto = Engine.prototype
  assert.equal(proto[Symbol.for('passgate.native')], undefined)
  for (const name of ['enforce', 'dryRun', 'enforceAsync', 'dryRunAsync']) assert.equal(proto[name].length, 1, name)
  assert.ok(new PassgateError('x') instanceof Error)
  assert.ok(Issuer.generate() instanceof Issuer)
})

test('the generic entry point: unknown operations and arguments are InputErrors at a path, lone surrogates refused', () => {
  const { engine } = setup()
  assert.throws(() => engine.call('expire_hold'), (e) => e instanceof InputError && /did you mean "expire_holds"/.test(e.message))
  assert.throws(() => engine.call('expire_holds', { limt: 5 }), (e) => e instanceof InputError && e.path === '/limt')
  assert.throws(() => engine.call('get_gate', { gate: 'p\ud800' }), (e) => e instanceof InputError && e.path === '/gate')
  assert.throws(() => engine.call('get_gate', { ['g\udfff']: 'pay' }), InputError)
  assert.throws(() => engine.call(42), InputError)
  assert.throws(() => engine.call('list_gates', 'x'), InputError)
  assert.deepEqual(engine.call('list_gates', null).gates.map((g) => g.name), ['pay'])
  // The typed methods name an argument as JavaScript does.
  assert.throws(() => engine.expireHolds(-1), (e) => e instanceof InputError && e.path === '/limit')
  assert.throws(() => engine.approve('evl_x', 'cfo', '1 day'), (e) => e instanceof InputError && e.path === '/ttl')
})

test('issuePassport: the core reads the options (days to seconds, bounds), errors name the option', () => {
  const issuer = Issuer.generate()
  const p = issuer.issuePassport({ agentId: 'a', permissions: ['pay'], expiresInDays: 2 })
  assert.ok(p.expiresAt - Math.floor(Date.now() / 1000) <= 2 * 86400)
  assert.throws(() => issuer.issuePassport({ agentId: 'a', expiresInDays: 1e9 }), (e) => e instanceof InputError && e.path === '/expiresInDays')
  assert.throws(() => issuer.issuePassport({ agentId: 'a', permissions: 'pay' }), (e) => e instanceof InputError && e.path === '/permissions')
  assert.throws(() => issuer.issuePassport({ agentId: 'a\ud800' }), InputError)
})
