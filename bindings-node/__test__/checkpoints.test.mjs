// Checkpointed signing from Node: unsigned decision records with their leaf, signed heads,
// inclusion and consistency proofs verified, tampered copies refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { Engine, Issuer, passgate } from './helpers.mjs'

const POLICY = { version: 1, gates: { pay: { require: ['pay'] } } }

test('decisions are proven against signed checkpoints', () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did], signing: 'checkpoint', checkpointEvery: 3 })
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['pay'] })
  const ds = [1, 2, 3, 4].map((amount) => engine.enforce({ gate: 'pay', passport, payload: { amount } }))
  for (const d of ds) {
    assert.equal(d.attestation.sig, undefined)
    assert.match(d.attestation.leaf, /^sha256:[0-9a-f]{64}$/)
  }
  const head = engine.checkpoint()
  assert.equal(head.body.kind, 'checkpoint')
  const did = engine.signerDid
  const records = engine.attestations({ chain: engine.chainId })
  assert.equal(passgate.verifyChain(records, did), true)
  for (const d of ds) {
    const proof = engine.inclusionProof({ evaluationId: d.evaluationId })
    assert.equal(passgate.verifyInclusionProof(d.attestation, proof, did), true)
    assert.equal(passgate.verifyInclusion(proof.leafHash, proof.leafIndex, proof.treeSize, proof.proof, head.body.data.root), true)
    const changed = structuredClone(d.attestation)
    changed.body.decision = 'deny'
    assert.throws(() => passgate.verifyInclusionProof(changed, proof, did), (e) => e.code === 'ATTESTATION_HASH')
  }
  const first = records.find((r) => r.body.kind === 'checkpoint').body.data
  const last = head.body.data
  const cp = engine.consistencyProof({ oldSize: first.tree_size, newSize: last.tree_size })
  assert.equal(passgate.verifyConsistency(first.tree_size, last.tree_size, first.root, last.root, cp.proof), true)
  assert.equal(passgate.verifyConsistency(first.tree_size, last.tree_size, last.root, first.root, cp.proof), false)
  assert.throws(() => new Engine({ signing: 'sometimes' }), (e) => e.code === 'INVALID_ARGUMENT')
})
