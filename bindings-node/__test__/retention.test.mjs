// Retention from Node: prune() from a timer, exportAttestations to a file, verifyExport of the
// export followed by the store (issue 14, item 6).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { Engine, Issuer } from './helpers.mjs'

const POLICY = { version: 1, gates: { g: { require: ['g'], constraints: [{ id: 'calls', type: 'quota', max: 1000000 }] } } }

test('prune exports first, and the export plus the remainder verify', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pg-ret-'))
  const sink = join(dir, 'pruned.jsonl')
  const issuer = Issuer.generate()
  const store = `sqlite://${dir}/r.db?retention_records=10&retention_export=${sink}`
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did], store })
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['g'] })
  for (let i = 0; i < 40; i++) assert.equal(engine.enforce({ gate: 'g', passport, payload: {} }).allowed, true)
  assert.equal(engine.prune(5), 5)
  assert.equal(engine.prune(), 25)
  assert.equal(engine.prune(), 0)
  assert.equal(engine.verifyStore([engine.signerDid]).chains[0].first_seq, 31)
  assert.equal(engine.verifyExport(sink, [engine.signerDid]).records, 40)
  assert.throws(() => engine.verifyExport(sink, [Issuer.generate().did]), { code: 'ATTESTATION_KEY' })
  const lines = readFileSync(sink, 'utf8').trim().split('\n')
  const cut = join(dir, 'cut.jsonl')
  writeFileSync(cut, [...lines.slice(0, 3), ...lines.slice(4)].join('\n') + '\n')
  assert.throws(() => engine.verifyExport(cut, [engine.signerDid]), { code: 'CHAIN_GAP' })
  const out = join(dir, 'now.jsonl')
  assert.equal(engine.exportAttestations(out), 10)
  assert.equal(JSON.parse(readFileSync(out, 'utf8').split('\n')[0]).body.kind, 'chain.checkpoint')
  assert.equal(engine.exportAttestations(out, { since: 2 ** 52 }), 0)
  assert.throws(() => engine.prune(-1), { code: 'INVALID_ARGUMENT' })
  engine.close()
})

test('a bad retention option names it', () => {
  assert.throws(() => new Engine({ policy: POLICY, store: 'memory:?retention_records=0' }), (e) => e.code === 'INVALID_ARGUMENT' && /retention_records/.test(e.message))
})
