// passgate catalogs (Node): a provider publishes v1 of its prices, an agent's passport is pinned
// to v1, v2 raises a price (the impact shows a breaking change), the pinned agent keeps v1 until
// it accepts v2, and the published catalog verifies offline with node:crypto alone.
//
// Run: `make node-examples`, then `node examples/node/catalogs.mjs`.
import { createHash, createPublicKey, verify } from 'node:crypto'

import { Engine, Issuer } from 'passgate'

const issuer = Issuer.generate()
const engine = new Engine({ policy: { version: 1, gates: { 'llm.complete': { require: ['llm:complete'] } } }, trustedIssuers: [issuer.did] })

const offer = (amount) => ({
  gate: 'llm.complete',
  description: 'Text completions',
  trust_level: 'L1',
  offers: [{
    permission: 'llm:complete',
    price: { amount, currency: 'USD' }, // minor units (cents) per 1000 tokens
    pricing: { model: 'per_unit', field: '/tokens', unit: 1000 },
    sla: { availability_bp: 9990, p95_latency_ms: 800 },
  }],
})

// 1. The provider drafts and publishes v1: signed, versioned, never changed again.
engine.createCatalog({ gate: 'llm.complete', catalog: offer(200) })
const v1 = engine.publishCatalog({ gate: 'llm.complete', changeSummary: 'launch' })
console.log(`published v${v1.version} ${v1.contentHash}`)

// 2. An agent finds the service and gets a passport pinned to the terms it read.
const [service] = engine.discoverServices({ filter: { permission: 'llm:*' } }).services
const pin = { gate: service.gate, version: service.version, content_hash: service.content_hash }
let agent = engine.issuePassport({ issuerSecret: issuer.secret, agentId: 'agent-007', permissions: ['llm:complete'], pins: [pin] })

// 3. v2 raises the price: the impact says so, and that it is breaking.
engine.createCatalog({ gate: 'llm.complete', catalog: offer(300) })
engine.publishCatalog({ gate: 'llm.complete', effectiveAt: v1.effectiveAt + 1, changeSummary: 'price up' })
const impact = engine.getCatalogImpact({ gate: 'llm.complete', old: 1, new: 2 })
console.log(`v1 -> v2 breaking: ${impact.hasBreakingChanges}: ${impact.changes.map((c) => c.kind).join(', ')}`)

// 4. The pinned agent still runs on v1's terms; the decision records which.
let d = engine.enforce({ gate: 'llm.complete', passport: agent.token, payload: { tokens: 1200 } })
console.log(`pinned agent: ${d.decision} (${d.checks.find((c) => c.type === 'catalog_pin').message})`)

// 5. Having read the impact, the agent accepts v2: its passport is reissued pinned to v2.
agent = engine.reissue(agent.token, issuer, null, [{ gate: 'llm.complete', version: 2 }])
d = engine.enforce({ gate: 'llm.complete', passport: agent, payload: { tokens: 1200 } })
console.log(`after accepting v2: ${d.checks.find((c) => c.type === 'catalog_pin').message}`)

// 6. Anyone verifies a published catalog with the provider's did:key alone.
/** RFC 8785 for strings, integers, null, arrays and ASCII-keyed objects. */
const canonical = (v) =>
  Array.isArray(v) ? `[${v.map(canonical).join(',')}]`
    : v !== null && typeof v === 'object' ? `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`
      : JSON.stringify(v)
function didKey(did) {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = 0n
  for (const ch of did.slice('did:key:z'.length)) n = n * 58n + BigInt(alphabet.indexOf(ch))
  const raw = Buffer.from(n.toString(16).padStart(68, '0'), 'hex') // 0xed 0x01, then the key
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.subarray(2).toString('base64url') }, format: 'jwk' })
}
const doc = engine.getCatalog({ gate: 'llm.complete', version: 1 }).document
const digest = createHash('sha256').update(canonical(doc.body)).digest()
if (doc.hash !== `sha256:${digest.toString('hex')}`) throw new Error('hash')
if (doc.body.content_hash !== `sha256:${createHash('sha256').update(canonical(doc.body.catalog)).digest('hex')}`) throw new Error('content hash')
const ok = verify(null, Buffer.concat([Buffer.from('passgate/catalog/v1\n'), digest]), didKey(engine.signerDid), Buffer.from(doc.sig, 'base64url'))
if (!ok) throw new Error('signature')
console.log(`catalog v1 verified offline against ${engine.signerDid}`)
