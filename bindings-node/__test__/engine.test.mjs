// The engine's surface: decisions, dry runs, idempotency, state, attestations, policies.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Engine, Issuer, PAY_POLICY, passgate, setup, throwsCode } from './helpers.mjs'

test('a decision is a plain object with camelCase keys of its own', () => {
  const { engine, passport, issuer } = setup()
  const d = engine.enforce({ gate: 'pay', passport, payload: { amount: 400 }, trace: { session: 's' } })
  assert.deepEqual(Object.keys(d), [
    'decision', 'allowed', 'gate', 'agentId', 'passportId', 'mode', 'dryRun', 'evaluationId',
    'policyHash', 'checks', 'remaining', 'attestation', 'replayed', 'holdId', 'approvalRequest',
    'redactedPayload',
  ])
  assert.equal(Object.getPrototypeOf(d), Object.prototype)
  assert.equal(d.decision, 'allow')
  assert.equal(d.allowed, true)
  assert.equal(d.agentId, 'a')
  assert.equal(d.passportId, passport.passportId)
  assert.equal(d.mode, 'enforce')
  assert.equal(d.dryRun, false)
  assert.match(d.evaluationId, /^evl_/)
  assert.match(d.policyHash, /^sha256:[0-9a-f]{64}$/)
  assert.deepEqual(d.remaining, { cap: '600' })
  assert.equal(d.replayed, false)
  assert.deepEqual(d.checks.map((c) => c.constraint), ['passport', 'gate', 'permissions', 'per-call', 'cap'])
  // Check objects and the attestation pass through unchanged (snake_case inside).
  const body = d.attestation.body
  assert.equal(body.evaluation_id, d.evaluationId)
  assert.equal(body.policy_hash, d.policyHash)
  assert.equal(body.agent_id, 'a')
  assert.deepEqual(body.trace, { session: 's' })
  assert.equal(d.attestation.kid, engine.signerDid)
  assert.equal(passgate.verifyAttestation(d.attestation, engine.signerDid), true)
  assert.notEqual(engine.signerDid, issuer.did)
})

test('a deny reports every check, with observed values, limits and max_admissible', () => {
  const { engine, passport } = setup()
  engine.enforce({ gate: 'pay', passport, payload: { amount: 500 } })
  engine.enforce({ gate: 'pay', passport, payload: { amount: 450 } })
  const d = engine.enforce({ gate: 'pay', passport, payload: { amount: 600 } })
  assert.equal(d.decision, 'deny')
  assert.equal(d.allowed, false)
  const failed = d.checks.filter((c) => !c.passed)
  assert.deepEqual(failed.map((c) => c.constraint), ['per-call', 'cap'])
  const cap = failed[1]
  assert.equal(cap.type, 'spend_limit')
  assert.equal(cap.observed, '1550')
  assert.equal(cap.limit, '1000')
  assert.equal(cap.max_admissible, '50')
  assert.deepEqual(d.remaining, { cap: '50' })
})

test('anonymous callers, unknown gates and missing permissions are denies', () => {
  const { engine, issuer } = setup()
  const anon = engine.enforce({ gate: 'pay', payload: { amount: 1 } })
  assert.equal(anon.decision, 'deny')
  assert.equal(anon.agentId, null)
  assert.equal(anon.passportId, null)
  assert.equal(engine.enforce({ gate: 'nope', payload: {} }).decision, 'deny')
  const reader = issuer.issuePassport({ agentId: 'r', permissions: ['read'] })
  const d = engine.enforce({ gate: 'pay', passport: reader, payload: { amount: 1 } })
  assert.deepEqual(d.checks.filter((c) => !c.passed).map((c) => c.constraint), ['permissions'])
  const none = new Engine()
  assert.equal(none.enforce({ gate: 'pay', payload: {} }).decision, 'deny')
})

test('dry runs change nothing', () => {
  const { engine, passport } = setup()
  const before = engine.attestations().length
  for (let i = 0; i < 3; i++) {
    const d = engine.dryRun({ gate: 'pay', passport, payload: { amount: 500 } })
    assert.equal(d.dryRun, true)
    assert.equal(d.attestation, null)
    assert.deepEqual(d.remaining, { cap: '500' })
  }
  assert.equal(engine.attestations().length, before)
  assert.deepEqual(engine.cumulativeState(), [])
  // …and consume no idempotency key.
  engine.dryRun({ gate: 'pay', passport, payload: { amount: 1 }, idempotencyKey: 'k' })
  assert.equal(engine.enforce({ gate: 'pay', passport, payload: { amount: 2 }, idempotencyKey: 'k' }).replayed, false)
})

test('idempotency: a retry replays, a different request under the key conflicts', () => {
  const { engine, passport } = setup()
  const first = engine.enforce({ gate: 'pay', passport, payload: { amount: 100 }, idempotencyKey: 'k1', trace: { try: 1 } })
  const again = engine.enforce({ gate: 'pay', passport, payload: { amount: 100 }, idempotencyKey: 'k1', trace: { try: 2 } })
  assert.equal(again.replayed, true)
  assert.equal(again.evaluationId, first.evaluationId)
  assert.deepEqual(again.remaining, { cap: '900' })
  assert.equal(engine.cumulativeState()[0].used, '100')
  const e = throwsCode(() => engine.enforce({ gate: 'pay', passport, payload: { amount: 101 }, idempotencyKey: 'k1' }), 'IDEMPOTENCY_CONFLICT')
  assert.ok(e instanceof passgate.IdempotencyConflictError)
})

test('cumulativeStatePage pages what cumulativeState lists; a forged cursor throws', () => {
  const { engine, passport, issuer } = setup()
  const agents = [passport, ...['b', 'c', 'd', 'e'].map((agentId) => issuer.issuePassport({ agentId, permissions: ['pay'] }))]
  for (const p of agents) engine.enforce({ gate: 'pay', passport: p, payload: { amount: 10 } })
  const walk = (filter, limit) => {
    const out = []
    let cursor = null
    for (;;) {
      const page = engine.cumulativeStatePage(filter, { cursor, limit })
      assert.deepEqual(Object.keys(page), ['counters', 'nextCursor'])
      assert.ok(page.counters.length <= limit)
      out.push(...page.counters)
      if (page.nextCursor === null) return out
      assert.equal(typeof page.nextCursor, 'string')
      cursor = page.nextCursor
    }
  }
  for (const limit of [1, 2, 100]) {
    assert.deepEqual(walk(null, limit), engine.cumulativeState())
    assert.deepEqual(walk({ gate: 'pay' }, limit), engine.cumulativeState({ gate: 'pay' }))
    assert.deepEqual(walk({ agentId: 'c' }, limit), engine.cumulativeState({ agentId: 'c' }))
  }
  assert.equal(walk({}, 2).length, 5)
  assert.equal(engine.cumulativeStatePage().counters.length, 5)
  const first = engine.cumulativeStatePage({}, { limit: 2 })
  throwsCode(() => engine.cumulativeStatePage({}, { cursor: 'forged' }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.cumulativeStatePage({}, { cursor: first.nextCursor + 'x' }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.cumulativeStatePage({}, { limit: 0 }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.cumulativeStatePage({}, { limit: 10_001 }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.cumulativeStatePage({ agent_id: 'a' }), 'INVALID_ARGUMENT')
})

test('cumulativeState and resetCumulativeState, with filters', () => {
  const { engine, passport, issuer } = setup()
  const b = issuer.issuePassport({ agentId: 'b', permissions: ['pay'] })
  engine.enforce({ gate: 'pay', passport, payload: { amount: 10 } })
  engine.enforce({ gate: 'pay', passport: b, payload: { amount: 20 } })
  const all = engine.cumulativeState()
  assert.equal(all.length, 2)
  const mine = engine.cumulativeState({ agentId: 'a' })
  assert.equal(mine.length, 1)
  assert.deepEqual(Object.keys(mine[0]), ['namespace', 'constraint', 'scope', 'window', 'used', 'windowStart', 'windowEnd'])
  assert.equal(mine[0].namespace, 'gate:pay')
  assert.equal(mine[0].constraint, 'cap')
  assert.equal(mine[0].scope, `agent:a@${issuer.did}`)
  assert.deepEqual(mine[0].window, { kind: 'fixed', sizeMs: 86_400_000 })
  assert.equal(mine[0].used, '10')
  assert.equal(mine[0].windowStart % 86_400_000, 0)
  assert.equal(mine[0].windowEnd, mine[0].windowStart + 86_400_000)
  assert.equal(engine.cumulativeState({ gate: 'pay', constraint: 'cap' }).length, 2)
  assert.equal(engine.cumulativeState({ gate: 'other' }).length, 0)
  throwsCode(() => engine.cumulativeState({ agent_id: 'a' }), 'INVALID_ARGUMENT')
  assert.equal(engine.resetCumulativeState({ agentId: 'b' }), 1)
  assert.equal(engine.cumulativeState().length, 1)
  assert.equal(engine.resetCumulativeState(), 1)
  assert.deepEqual(engine.cumulativeState(), [])
  const resets = engine.attestations({ kind: 'reset' })
  assert.equal(resets.length, 2)
  assert.equal(resets[0].body.data.scope, `agent:b@${issuer.did}`)
})

test('attestations: filters, limit, and a verifiable chain', () => {
  const { engine, passport } = setup()
  const t0 = Date.now()
  const allow = engine.enforce({ gate: 'pay', passport, payload: { amount: 10 } })
  engine.enforce({ gate: 'pay', passport, payload: { amount: 900 } })
  engine.enforce({ gate: 'nope', payload: {} })
  engine.recordAttestation('host.note', { who: 'ops', n: 1.5 })
  const all = engine.attestations()
  assert.equal(all.length, 4)
  assert.deepEqual(all.map((r) => r.body.seq), [1, 2, 3, 4])
  assert.equal(passgate.verifyChain(all, engine.signerDid), true)
  assert.equal(engine.attestations({ decision: 'deny' }).length, 2)
  assert.equal(engine.attestations({ gate: 'pay' }).length, 2)
  assert.equal(engine.attestations({ agentId: 'a' }).length, 2)
  assert.deepEqual(engine.attestations({ evaluationId: allow.evaluationId }), [allow.attestation])
  assert.equal(engine.attestations({ kind: 'host.note' })[0].body.data.n, '1.5')
  assert.equal(engine.attestations({ chain: engine.chainId }).length, 4)
  assert.equal(engine.attestations({ chain: 'chn_other' }).length, 0)
  assert.equal(engine.attestations({ limit: 2 }).length, 2)
  assert.equal(engine.attestations({ since: t0 - 1000, until: Date.now() + 1000 }).length, 4)
  assert.equal(engine.attestations({ until: t0 - 1000 }).length, 0)
  throwsCode(() => engine.attestations({ limit: -1 }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.attestations({ agent_id: 'a' }), 'INVALID_ARGUMENT')
  throwsCode(() => engine.recordAttestation('decision'), 'INVALID_ARGUMENT')
  // Any changed byte is detected.
  const forged = structuredClone(all)
  forged[1].body.remaining.cap = '1000000'
  throwsCode(() => passgate.verifyChain(forged, engine.signerDid), 'ATTESTATION_HASH')
  throwsCode(() => passgate.verifyChain('nope', engine.signerDid), 'INVALID_ARGUMENT')
})

test('a signing key gives a stable signer did', () => {
  const key = Issuer.generate()
  assert.equal(new Engine({ signingKey: key }).signerDid, key.did)
  assert.equal(new Engine({ signingKey: key.secret }).signerDid, key.did)
  throwsCode(() => new Engine({ signingKey: 42 }), 'INVALID_ARGUMENT')
  throwsCode(() => new Engine({ signingKey: 'not-a-key' }), 'KEY_INVALID')
})

test('engine options are checked', () => {
  throwsCode(() => new Engine({ trusted_issuers: [] }), 'INVALID_ARGUMENT')
  throwsCode(() => new Engine({ trustedIssuers: 'did:key:z6Mk' }), 'INVALID_ARGUMENT')
  throwsCode(() => new Engine({ store: 'ftp://example.com/x' }), 'INVALID_ARGUMENT')
  throwsCode(() => new Engine({ policy: 42 }), 'POLICY_INVALID')
  throwsCode(() => new Engine({ policy: '{"version": 1, "version": 1}' }), 'POLICY_INVALID')
  throwsCode(() => new Engine({ policy: { version: 1, gates: { g: { constraints: [{ type: 'max_value', field: '/a', max: NaN }] } } } }), 'POLICY_INVALID')
  assert.ok(new Engine({ store: 'memory:', leewaySecs: 5 }))
})

test('policies load from objects, JSON text and files; setPolicy keeps counters', () => {
  const { engine, passport, issuer } = setup()
  engine.enforce({ gate: 'pay', passport, payload: { amount: 400 } })
  const dir = mkdtempSync(join(tmpdir(), 'passgate-'))
  try {
    const path = join(dir, 'policy.json')
    const tighter = structuredClone(PAY_POLICY)
    tighter.gates.pay.constraints[1].max = 500
    writeFileSync(path, JSON.stringify(tighter))
    const hash = engine.setPolicy(path)
    assert.match(hash, /^sha256:/)
    const d = engine.enforce({ gate: 'pay', passport, payload: { amount: 200 } })
    assert.equal(d.policyHash, hash)
    assert.deepEqual(d.checks.filter((c) => !c.passed).map((c) => c.constraint), ['cap'])
    assert.equal(engine.setPolicy(JSON.stringify(PAY_POLICY)), engine.setPolicy(PAY_POLICY))
    assert.equal(new Engine({ policy: path, trustedIssuers: [issuer.did] }).dryRun({ gate: 'pay', passport, payload: { amount: 1 } }).policyHash, hash)
    throwsCode(() => engine.setPolicy(join(dir, 'missing.json')), 'POLICY_INVALID')
  } finally {
    rmSync(dir, { recursive: true })
  }
})

test('gates, constraint types and templates', () => {
  const { engine } = setup()
  const gates = engine.listGates()
  assert.deepEqual(gates.map((g) => g.name), ['pay'])
  assert.deepEqual(engine.getGate('pay').require, ['pay'])
  assert.equal(engine.getGate('pay').mode, 'enforce')
  const types = passgate.constraintTypes()
  assert.ok(types.some((t) => t.type === 'spend_limit' && t.stateful === true))
  assert.equal(types.find((t) => t.type === 'max_value').params.$schema, 'https://json-schema.org/draft/2020-12/schema')
  const templates = passgate.templates()
  assert.ok(templates.some((t) => t.name === 'payments-conservative'))
})

test('decisions read the same through the JSON.stringify route and the native walk', () => {
  const { engine, passport } = setup()
  const cases = [
    ['dryRun', { gate: 'pay', passport, payload: { amount: 600 } }],
    ['dryRun', { gate: 'nope', payload: {} }],
    ['enforce', { gate: 'pay', passport, payload: { amount: 10 }, trace: { s: 1 } }],
    ['enforce', { gate: 'pay', passport, payload: { amount: 10 }, idempotencyKey: 'k' }],
    ['enforce', { gate: 'pay', passport, payload: { amount: 10 }, idempotencyKey: 'k' }],
  ]
  for (const [name, req] of cases) {
    // `enforce` hands the payload over as JSON.stringify text; `enforceText(req)` walks it.
    const viaText = engine[name](req)
    const viaWalk = JSON.parse(engine[`${name}Text`](req))
    assert.deepEqual(Object.keys(viaWalk), Object.keys(viaText))
    for (const k of ['decision', 'allowed', 'gate', 'agentId', 'passportId', 'mode', 'dryRun', 'policyHash']) {
      assert.deepEqual(viaWalk[k], viaText[k], k)
    }
    // (Two enforces count twice: the amounts left differ, not their keys.)
    assert.deepEqual(Object.keys(viaWalk.remaining), Object.keys(viaText.remaining))
    assert.deepEqual(viaWalk.checks.map((c) => Object.keys(c)), viaText.checks.map((c) => Object.keys(c)))
    if (viaText.attestation) {
      assert.deepEqual(Object.keys(viaWalk.attestation.body), Object.keys(viaText.attestation.body))
      assert.equal(passgate.verifyAttestation(viaWalk.attestation, engine.signerDid), true)
    }
  }
  // A replay is the same decision either way.
  const r1 = engine.enforce(cases[3][1])
  const r2 = JSON.parse(engine.enforceText(cases[3][1]))
  assert.deepEqual(r1, r2)
})

test('calendar windows: a Berlin day is listed with its unit, zone and local bounds', () => {
  const engine = new Engine({
    policy: {
      version: 1, gates: {},
      anonymous: {
        gates: ['g'],
        constraints: [{ id: 'daily', type: 'rate_limit', max: 1, window: 'day', tz: 'Europe/Berlin', scope: 'client' }],
      },
    },
  })
  assert.equal(engine.enforce({ gate: 'g', client: 'c1' }).allowed, true)
  const d = engine.enforce({ gate: 'g', client: 'c1' })
  assert.equal(d.allowed, false)
  assert.match(d.checks.find((c) => c.constraint === 'daily').message, /per day \(Europe\/Berlin\)$/)
  const [state] = engine.cumulativeState()
  assert.deepEqual(state.window, { kind: 'calendar', unit: 'day', tz: 'Europe/Berlin' })
  // Local midnight in Berlin is 22:00 or 23:00 UTC; a day lasts 23 to 25 hours.
  assert.ok([22, 23].includes(new Date(state.windowStart).getUTCHours()))
  assert.ok([23, 24, 25].includes((state.windowEnd - state.windowStart) / 3_600_000))
  assert.ok(state.windowStart <= Date.now() && Date.now() < state.windowEnd)
  const e = throwsCode(() => new Engine({ policy: { version: 1, gates: { g: { constraints: [{ type: 'rate_limit', max: 1, window: 'day', tz: 'Mars/Olympus' }] } } } }), 'POLICY_INVALID')
  assert.match(e.message, /at \/gates\/g\/constraints\/0\/tz: unknown time zone "Mars\/Olympus"/)
})
