// passgate commerce, end to end (Node): a provider publishes v1 of its prices; an agent's passport
// is pinned to v1; 100 metered calls, each with a proof of possession of the agent's key; midway v2
// raises the price (the impact shows a breaking change) and the pinned agent keeps v1's prices; a
// settlement for the period is then verified **offline** by the payer with nothing but node:crypto
// and the provider's did:key (`verifyOffline` below uses no passgate code).
//
// Run: `make node-examples`, then `node examples/node/commerce.mjs`.
import { createHash, createPublicKey, verify } from 'node:crypto'

import { Engine, Issuer, makePop } from 'passgate'

const GATE = 'llm.complete'
const issuer = Issuer.generate()
// L3: every call must carry a proof of possession of the passport's key (a stolen token is useless).
const engine = new Engine({
  policy: {
    version: 1,
    issuers: [issuer.did],
    issuer_levels: { [issuer.did]: 'L2' },
    gates: { [GATE]: { require: ['llm:complete'], trust_level: 'L3' } },
  },
})

const catalog = (centsPer1000Tokens) => ({
  gate: GATE,
  trust_level: 'L3',
  offers: [{
    permission: 'llm:complete',
    price: { amount: centsPer1000Tokens, currency: 'USD' }, // integer minor units
    pricing: { model: 'per_unit', field: '/tokens', unit: 1000 },
    sla: { availability_bp: 9900, p95_latency_ms: 800 },
  }],
})

// 1. The provider publishes v1; the agent discovers it and is issued a passport pinned to it.
engine.createCatalog({ gate: GATE, catalog: catalog(200) })
const v1 = engine.publishCatalog({ gate: GATE, changeSummary: 'launch' })
const [service] = engine.discoverServices({ filter: { permission: 'llm:*' } }).services
const pin = { gate: GATE, version: service.version, content_hash: service.content_hash }
const agent = engine.issuePassport({ issuerSecret: issuer.secret, agentId: 'agent-007', permissions: ['llm:complete'], pins: [pin] })

/** One metered call: enforce with a fresh proof of possession, then attest the consumption. */
function call(tokens) {
  const payload = { tokens }
  const pop = makePop({ agentKey: agent.privateKey, gate: GATE, payload, catalogHash: pin.content_hash })
  const d = engine.enforce({ gate: GATE, passport: agent.token, payload, pop })
  if (d.decision !== 'allow') throw new Error(JSON.stringify(d.checks))
  engine.issueConsumptionAttestation({ evaluationId: d.evaluationId, outcome: 'success', quantity: tokens, latencyMs: 120 })
}

for (let i = 0; i < 50; i++) call(1000 + 10 * i)

// 2. v2 raises the price: a breaking change by the impact; the pinned agent is not affected.
engine.createCatalog({ gate: GATE, catalog: catalog(300) })
engine.publishCatalog({ gate: GATE, effectiveAt: v1.effectiveAt + 1, changeSummary: 'price up' })
const impact = engine.getCatalogImpact({ gate: GATE, old: 1, new: 2 })
console.log(`v1 -> v2 breaking: ${impact.hasBreakingChanges} ${impact.changes.map((c) => c.kind).join(', ')}`)
for (let i = 50; i < 100; i++) call(1000 + 10 * i)

// A replayed proof is refused, whatever engine shares the store.
const payload = { tokens: 1000 }
const pop = makePop({ agentKey: agent.privateKey, gate: GATE, payload, catalogHash: pin.content_hash })
engine.enforce({ gate: GATE, passport: agent.token, payload, pop })
const replay = engine.enforce({ gate: GATE, passport: agent.token, payload, pop })
console.log('replayed proof:', replay.checks.filter((c) => !c.passed).map((c) => c.code))

// 3. The provider settles the period and hands the payer the bundle (statement + records).
const statement = engine.generateSettlement({ from: 0, to: 4_000_000_000_000, payee: engine.signerDid })
engine.updateSettlementStatus({ settlementId: statement.settlementId, status: 'issued' })
const bundle = engine.exportSettlement({ settlementId: statement.settlementId })
const providerDid = engine.signerDid

// 4. The payer verifies it offline: signatures, the Merkle root, the totals, the terms applied.
/** RFC 8785 for strings, integers, booleans, null, arrays and ASCII-keyed objects. */
const canonical = (v) =>
  Array.isArray(v) ? `[${v.map(canonical).join(',')}]`
    : v !== null && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`
      : JSON.stringify(v)
const sha256 = (...parts) => { const h = createHash('sha256'); for (const p of parts) h.update(p); return h.digest() }
function didKey(did) {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = 0n
  for (const ch of did.slice('did:key:z'.length)) n = n * 58n + BigInt(alphabet.indexOf(ch))
  const raw = Buffer.from(n.toString(16).padStart(68, '0'), 'hex') // 0xed 0x01, then the key
  if (raw[0] !== 0xed || raw[1] !== 0x01) throw new Error('not an Ed25519 did:key')
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(2).toString('base64url') }, format: 'jwk' })
}
function checkSigned(document, did, domain) {
  const digest = sha256(canonical(document.body))
  if (document.hash !== `sha256:${digest.toString('hex')}`) throw new Error('hash')
  if (!verify(null, Buffer.concat([Buffer.from(domain), digest]), didKey(did), Buffer.from(document.sig, 'base64url'))) throw new Error('signature')
}
/** RFC 9162 tree hash over the sorted record ids. */
function merkleRoot(ids) {
  const mth = (leaves) => {
    if (leaves.length === 0) return sha256('')
    if (leaves.length === 1) return leaves[0]
    let k = 1
    while (k * 2 < leaves.length) k *= 2
    return sha256(Buffer.from([1]), mth(leaves.slice(0, k)), mth(leaves.slice(k)))
  }
  return `sha256:${mth([...ids].sort().map((id) => sha256(Buffer.from([0]), id))).toString('hex')}`
}
function verifyOffline(bundle, did, pinnedHash) {
  const doc = bundle.settlement
  checkSigned(doc, did, 'passgate/settlement/v1\n')
  const totals = {}
  for (const rec of bundle.consumptions) {
    checkSigned(rec, did, 'passgate-attestation-v1\n')
    const data = rec.body.data
    if (data.catalog.content_hash !== pinnedHash) throw new Error('priced on terms the agent did not accept')
    const t = (totals[data.price.currency] ??= { count: 0, fee: 0, gross: 0, net: 0 })
    t.gross += data.price.amount
    t.fee += data.fee
    t.net += data.net
    t.count += 1
  }
  if (canonical(doc.body.totals) !== canonical(totals)) throw new Error('totals')
  if (doc.body.merkle_root !== merkleRoot(bundle.consumptions.map((r) => r.body.id))) throw new Error('root')
  return totals
}

const { USD } = verifyOffline(bundle, providerDid, pin.content_hash)
let expected = 0
for (let i = 0; i < 100; i++) expected += Math.floor((1000 + 10 * i) * 200 / 1000)
console.log(`settlement ${statement.settlementId}: ${USD.count} calls, ${USD.gross} cents (v1 prices: ${expected})`)
if (USD.gross !== expected || USD.count !== 100) throw new Error('totals differ from v1 prices')

// Any changed byte is caught: the payer refuses a statement whose records were altered.
const forged = structuredClone(bundle)
forged.consumptions[7].body.data.price.amount += 1
try {
  verifyOffline(forged, providerDid, pin.content_hash)
  throw new Error('a forged record verified')
} catch (e) {
  if (e.message === 'a forged record verified') throw e
  console.log('forged record refused offline:', e.message)
}
engine.updateSettlementStatus({ settlementId: statement.settlementId, status: 'paid', reason: 'wire 2026-12-03' })
console.log(`settlement verified offline against ${providerDid}`)
