// passgate quickstart (Node): issue a passport, pay until the daily cap says no, read why,
// dry-run, and verify the signed audit chain.
//
// Run: `make demo` (builds the package), then `node examples/node/quickstart.mjs`.
import { Engine, Issuer, verifyChain } from 'passgate'

// 1. An issuer (your control plane) signs a passport for an agent.
const issuer = Issuer.generate()
const passport = issuer.issuePassport({ agentId: 'agent-007', permissions: ['payments:send'] })

// 2. The engine trusts that issuer and enforces a policy: at most 500 per payment,
//    1000 per day, USD or EUR only.
const engine = new Engine({
  policy: {
    version: 1,
    gates: {
      'payments.send': {
        require: ['payments:send'],
        constraints: [
          { id: 'per-call', type: 'max_value', field: '/amount', max: 500 },
          { id: 'currency', type: 'allowed_values', field: '/currency', values: ['USD', 'EUR'] },
          { id: 'daily-spend', type: 'spend_limit', field: '/amount', max: '1000.00', window: '1d' },
        ],
      },
    },
  },
  trustedIssuers: [issuer.did],
})

// 3. Pay 400 three times: the third payment would pass 1000 for the day.
for (let i = 1; i <= 3; i++) {
  const d = engine.enforce({ gate: 'payments.send', passport: passport.token, payload: { amount: 400, currency: 'USD' } })
  console.log(`payment ${i}: ${d.decision} (remaining today: ${d.remaining['daily-spend']})`)
  if (!d.allowed) {
    // 4. Every failed check says why, with the observed value and the limit.
    for (const c of d.checks.filter((c) => !c.passed)) console.log(`  denied by ${c.constraint}: ${c.message}`)
  }
}

// 5. Dry run: would 200 pass? It answers without counting anything.
const probe = engine.dryRun({ gate: 'payments.send', passport: passport.token, payload: { amount: 200, currency: 'USD' } })
console.log(`dry run of 200: ${probe.decision}`)

// 6. Every decision was signed into this engine's chain; anyone with its did:key can verify.
const records = engine.attestations()
verifyChain(records, engine.signerDid)
console.log(`audit chain: ${records.length} records verified against ${engine.signerDid}`)
