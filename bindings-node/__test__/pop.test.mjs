// Proof of possession from Node (issue 18 item 4): makePop signs with the agent's key (the
// request hash computed by the core), an L3 gate admits a passport only with a proof, a stolen
// passport alone or a changed proof is denied, a replayed nonce is refused, and malformed proofs
// are InputErrors naming the field.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { passgate, Engine, Issuer } from './helpers.mjs'

function setup() {
  const issuer = Issuer.generate()
  const policy = {
    version: 1,
    issuers: [issuer.did],
    issuer_levels: { [issuer.did]: 'L2' },
    gates: {
      pay: {
        require: ['pay'],
        trust_level: 'L3',
        constraints: [{ id: 'cap', type: 'spend_limit', field: '/amount', max: 100, window: '1d' }],
      },
    },
  }
  const engine = new Engine({ policy })
  const agent = issuer.issuePassport({ agentId: 'agent', permissions: ['pay'] })
  return { engine, agent }
}

const failed = (d) => d.checks.filter((c) => !c.passed && (c.type === 'pop' || c.type === 'trust_level')).map((c) => c.code)

test('a proof by the agent key is admitted and recorded; a replay is refused', () => {
  const { engine, agent } = setup()
  const pop = passgate.makePop({ agentKey: agent, gate: 'pay', payload: { amount: 5 } })
  assert.deepEqual(Object.keys(pop).sort(), ['nonce', 'sig', 'ts'])
  const d = engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 5 }, pop })
  assert.equal(d.decision, 'allow')
  assert.equal(d.attestation.body.pop.nonce, pop.nonce)
  const again = engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 5 }, pop })
  assert.deepEqual(failed(again), ['POP_REPLAYED'])
  const bySecret = passgate.makePop({ agentKey: agent.privateKey, gate: 'pay', payload: { amount: 5 } })
  assert.equal(engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 5 }, pop: bySecret }).decision, 'allow')
})

test('a stolen passport alone, or a changed proof, is denied', () => {
  const { engine, agent } = setup()
  assert.deepEqual(failed(engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 5 } })), ['POP_REQUIRED'])
  const thief = Issuer.generate().secret
  const forged = passgate.makePop({ agentKey: thief, gate: 'pay', payload: { amount: 5 } })
  assert.deepEqual(failed(engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 5 }, pop: forged })), ['POP_INVALID'])
  const pop = passgate.makePop({ agentKey: agent, gate: 'pay', payload: { amount: 1 } })
  assert.deepEqual(failed(engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 2 }, pop })), ['POP_INVALID'])
  const sig = (pop.sig[0] === 'B' ? 'C' : 'B') + pop.sig.slice(1)
  assert.deepEqual(failed(engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 1 }, pop: { ...pop, sig } })), ['POP_INVALID'])
  assert.equal(engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 1 }, pop }).decision, 'allow')
})

test('malformed proofs are InputErrors naming the field', () => {
  const { engine, agent } = setup()
  for (const [pop, path] of [
    ['x', '/pop'],
    [{ ts: 1, sig: 'A'.repeat(86) }, '/pop/nonce'],
    [{ nonce: 'n'.repeat(16), ts: 'now', sig: 'A'.repeat(86) }, '/pop/ts'],
    [{ nonce: 'n'.repeat(16), ts: 1, sig: 'short' }, '/pop/sig'],
    [{ nonce: 'n'.repeat(16), ts: 1, sig: 'A'.repeat(86), kid: 'x' }, '/pop/kid'],
  ]) {
    assert.throws(
      () => engine.enforce({ gate: 'pay', passport: agent.token, payload: { amount: 1 }, pop }),
      (e) => e instanceof passgate.InputError && e.code === 'INVALID_ARGUMENT' && e.path === path,
    )
  }
  assert.throws(
    () => passgate.makePop({ agentKey: agent, gate: 'pay', nonce: 'has spaces in it!' }),
    (e) => e.code === 'INVALID_ARGUMENT' && e.path === '/pop/nonce',
  )
  assert.throws(() => passgate.makePop({ agentKey: 'not a secret', gate: 'pay' }), (e) => e.code === 'KEY_INVALID')
  assert.throws(() => passgate.makePop({ agentKey: agent, gate: 'pay', extra: 1 }), (e) => e.code === 'INVALID_ARGUMENT')
})
