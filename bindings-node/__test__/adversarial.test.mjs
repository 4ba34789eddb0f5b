// The agent is the adversary: the headline attacks of the trust model, through the public Node API.
// The attacker holds its passport *and* its private key, so it signs whatever it likes with that key.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createPrivateKey, generateKeyPairSync, sign } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { passgate, Engine, Issuer, signToken, b64u } from './helpers.mjs'

function world(gate) {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: { version: 1, gates: { pay: gate } }, trustedIssuers: [issuer.did] })
  return { issuer, engine }
}

/** The agent's own key, as an `Issuer` (did, publicJwk, secret) to sign with. */
const keyOf = (passport) => Issuer.fromSecret(passport.privateKey)

/** A sub-passport of `parent` signed by hand with its agent key: any sub, jti, caveats. */
function mint(parent, claims) {
  const now = Math.floor(Date.now() / 1000)
  const { publicKey } = generateKeyPairSync('ed25519')
  const body = {
    iss: parent.did, sub: 'child', jti: 'psp_' + 'a'.repeat(26), iat: now, nbf: now, exp: now + 3600,
    perms: ['pay'], cnf: { jwk: publicKey.export({ format: 'jwk' }) }, prf: parent.token, ...claims,
  }
  return signToken(keyOf(parent), body)
}

const failedCodes = (d) => d.checks.filter((c) => !c.passed && c.code).map((c) => c.code)

// RFC 8785 for what is signed here: strings and integers, keys sorted.
const canonical = (o) => JSON.stringify(Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]])))

test('an agent forging an approval for another payload with its own key is denied', () => {
  const { issuer, engine } = world({
    require: ['pay'],
    constraints: [{ id: 'big', type: 'approval', when: { field: '/amount', op: 'gt', value: 100 } }],
  })
  const alice = issuer.issuePassport({ agentId: 'alice', permissions: ['pay'] })
  const d = engine.enforce({ gate: 'pay', passport: alice, payload: { amount: 200 } })
  assert.equal(d.decision, 'escalate')
  const token = engine.approve(d.evaluationId, 'cfo')
  const big = engine.dryRun({ gate: 'pay', passport: alice, payload: { amount: 1_000_000 } })
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString())
  claims.fingerprint = big.approvalRequest.fingerprint
  claims.kid = alice.did
  const text = canonical(claims)
  const me = keyOf(alice)
  const key = createPrivateKey({ key: { ...me.publicJwk, d: me.secret }, format: 'jwk' })
  const digest = createHash('sha256').update(text).digest()
  const sig = sign(null, Buffer.concat([Buffer.from('passgate-approval-v1\n'), digest]), key)
  const forged = `pga1.${b64u(text)}.${sig.toString('base64url')}`
  const denied = engine.enforce({ gate: 'pay', passport: alice, payload: { amount: 1_000_000 }, approval: forged })
  assert.equal(denied.allowed, false)
  assert.deepEqual(failedCodes(denied), ['APPROVAL_INVALID'])
  assert.ok(!JSON.stringify(engine.attestations()).includes(claims.jti), 'the log holds no token id')
  assert.equal(engine.enforce({ gate: 'pay', passport: alice, payload: { amount: 200 }, approval: token }).allowed, true)
  const again = engine.enforce({ gate: 'pay', passport: alice, payload: { amount: 200 }, approval: token })
  assert.deepEqual(failedCodes(again), ['APPROVAL_USED'])
})

test('a junior minting a child named after a senior passport gets none of the senior state', () => {
  const { issuer, engine } = world({ require: ['pay'], constraints: [{ id: 'q', type: 'quota', max: 1, scope: 'passport' }] })
  const senior = issuer.issuePassport({
    agentId: 'senior', permissions: ['pay'], caveats: [{ id: 'loose', type: 'max_value', field: '/amount', max: 1000 }],
  })
  const junior = issuer.issuePassport({
    agentId: 'junior', permissions: ['pay'], caveats: [{ id: 'small', type: 'max_value', field: '/amount', max: 10 }],
  })
  assert.equal(engine.enforce({ gate: 'pay', passport: senior, payload: { amount: 500 }, idempotencyKey: 'order-1' }).allowed, true)
  const child = mint(junior, { jti: senior.passportId, sub: 'senior' })
  const d = engine.enforce({ gate: 'pay', passport: child, payload: { amount: 500 }, idempotencyKey: 'order-1' })
  assert.equal(d.replayed, false)
  assert.equal(d.allowed, false)
  assert.ok(d.checks.some((c) => c.constraint === 'small' && !c.passed))
  assert.match(d.passportId, /^psd_/)
  engine.revokePassport(d.passportId)
  assert.equal(engine.enforce({ gate: 'pay', passport: senior, payload: { amount: 500 }, idempotencyKey: 'order-1' }).replayed, true)
})

test('an agent delegating to itself cannot escape its daily cap or spend another agent budget', () => {
  const { issuer, engine } = world({ require: ['pay'], constraints: [{ id: 'daily', type: 'rate_limit', max: 3, window: '1d' }] })
  const alice = issuer.issuePassport({ agentId: 'alice', permissions: ['pay'] })
  const bob = issuer.issuePassport({ agentId: 'bob', permissions: ['pay'] })
  const children = [0, 1, 2, 3, 4].map((i) => alice.issueSubPassport({ agentId: `alice-${i}`, permissions: ['pay'], expiresInDays: 1 }))
  children.push(alice.issueSubPassport({ agentId: 'bob', permissions: ['pay'], expiresInDays: 1 }))
  const admitted = children.filter((c) => engine.enforce({ gate: 'pay', passport: c, payload: {} }).allowed).length
  assert.equal(admitted, 3)
  assert.equal(engine.enforce({ gate: 'pay', passport: alice, payload: {} }).allowed, false)
  assert.equal(engine.enforce({ gate: 'pay', passport: bob, payload: {} }).allowed, true)
  const [state] = engine.cumulativeState({ agentId: 'alice' })
  assert.equal(state.used, '3')
  assert.equal(state.scope, `agent:alice@${issuer.did}`)
  const delegated = engine.attestations({ kind: 'decision' }).map((r) => r.body)
    .filter((b) => b.agent_id === 'bob' && b.principal.agent_id === 'alice')
  assert.ok(delegated.length > 0)
  assert.equal(delegated[0].delegation[0], alice.passportId)
})

test('records cut from the end of a chain are detected with a signed chain head', () => {
  const { issuer, engine } = world({ require: ['pay'] })
  const alice = issuer.issuePassport({ agentId: 'alice', permissions: ['pay'] })
  for (let i = 0; i < 3; i++) engine.enforce({ gate: 'pay', passport: alice, payload: {} })
  const head = engine.chainHead()
  const records = engine.attestations()
  assert.equal(passgate.verifyChain(records, engine.signerDid, head), true)
  assert.equal(passgate.verifyChain(records.slice(0, -1), engine.signerDid), true)
  assert.throws(() => passgate.verifyChain(records.slice(0, -1), engine.signerDid, head), { code: 'CHAIN_GAP' })
})

test('the audit of a store survives restarts, pages, and a closed engine refuses to touch it', () => {
  const dir = mkdtempSync(join(tmpdir(), 'passgate-audit-'))
  try {
    const issuer = Issuer.generate()
    const policy = { version: 1, gates: { pay: { require: ['pay'] } } }
    const store = `sqlite://${join(dir, 'audit.db')}`
    const token = issuer.issuePassport({ agentId: 'a', permissions: ['pay'] }).token
    const signers = []
    for (let life = 0; life < 2; life++) {
      const engine = new Engine({ policy, trustedIssuers: [issuer.did], store })
      assert.equal(engine.enforce({ gate: 'pay', passport: token, payload: {} }).allowed, true)
      signers.push(engine.signerDid)
      engine.close()
      engine.close()
      assert.throws(() => engine.enforce({ gate: 'pay', passport: token, payload: {} }), { code: 'STORE_UNAVAILABLE' })
    }
    const engine = new Engine({ policy, trustedIssuers: [issuer.did], store })
    const report = engine.verifyStore(signers)
    assert.equal(report.records, 2)
    assert.equal(report.chains.length, 2)
    assert.throws(() => engine.verifyStore(signers.slice(0, 1)), { code: 'ATTESTATION_KEY' })
    const first = engine.attestationsPage({}, { limit: 1 })
    assert.equal(first.records.length, 1)
    const second = engine.attestationsPage(null, { cursor: first.nextCursor, limit: 1 })
    assert.equal(second.nextCursor, null)
    assert.deepEqual([...first.records, ...second.records], engine.attestations())
    // The last page's nextCursor (null) passed straight back is the first page, not a TypeError.
    assert.deepEqual(engine.attestationsPage({}, { cursor: second.nextCursor, limit: 1 }), first)
    assert.throws(() => engine.attestationsPage({}, { cursor: 'forged' }), { code: 'INVALID_ARGUMENT' })
    engine.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
