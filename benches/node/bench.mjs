// passgate vs @cedar-policy/cedar-wasm vs casbin from Node: µs per call, on the workload of
// benches/src/lib.rs (gate `payments.transfer`, five constraints, a passport with four
// permissions, a ~300-byte payload; cases allow / deny on the amount / deny on the daily cap).
//
// - passgate: `engine.dryRun` on the memory store, counters built by real `enforce` calls; and
//   `engine.enforce` (full decision) on the allow case.
// - cedar-wasm: `statefulIsAuthorized` with a pre-parsed policy set (`preparsePolicySet`), the
//   state in the context.
// - casbin: `enforceSync` on an ABAC model (the constraints in the matcher), the state passed as a
//   request argument.
//
// The Node package reads the system clock, so the hours window is 09:00–17:00 in an `Etc/GMT±N`
// zone chosen at start so that it is now 10:xx there (the peers get the same local minute).
//
// Run: `make bench`, or `cd benches/node && npm install && node bench.mjs OUT.json` after
// `make node-build`.
import { createRequire } from 'node:module'
import { readFileSync, writeFileSync } from 'node:fs'
import { Engine, Issuer } from '../../bindings-node/passgate.mjs'
import { interleaved } from './timing.mjs'
import { newEnforcer, newModelFromString, StringAdapter } from 'casbin'

const require = createRequire(import.meta.url)
const cedar = require('@cedar-policy/cedar-wasm/nodejs')

const GATE = 'payments.transfer'
const AGENT = 'agent-1'
const PERMISSIONS = ['payments:transfer', 'payments:read', 'web:fetch', 'fs:read']
const CASES = ['allow', 'deny-amount', 'deny-daily-cap']

function localZone() {
  const now = new Date()
  let k = (((10 - now.getUTCHours()) % 24) + 24) % 24
  if (k > 14) k -= 24
  const name = k === 0 ? 'Etc/GMT' : `Etc/GMT${k > 0 ? '-' : '+'}${Math.abs(k)}`
  const minute = (((now.getUTCHours() + k) % 24) + 24) % 24 * 60 + now.getUTCMinutes()
  return { tz: name, minute }
}

const payload = (amount) => ({
  amount,
  currency: 'USD',
  to: 'acct_9f2k3j4h',
  memo: 'invoice 2026-114 for cloud compute, October',
  metadata: { invoice: 'INV-2026-114', project: 'research', requested_by: AGENT, cost_center: 'cc-4411', approved: true },
  reference: 'ref_8d1c7e0a5b3f',
})
const amountOf = (c) => (c === 'deny-amount' ? 900 : 120)
// Amounts of the enforced calls that build each case's counters (all in this minute).
const history = (c) => (c === 'deny-daily-cap' ? [...Array(9).fill(500), 450] : [400, 300, 300])
const state = (c, minute) => {
  const h = history(c)
  return { calls_last_minute: h.length, spent_today: h.reduce((a, b) => a + b, 0), minute_of_day: minute }
}
const policy = (tz, caps) => ({
  version: 1,
  gates: {
    [GATE]: {
      require: ['payments:transfer'],
      constraints: [
        { id: 'per-call', type: 'max_value', field: '/amount', max: 500 },
        { id: 'currency', type: 'allowed_values', field: '/currency', values: ['USD', 'EUR'] },
        { id: 'hours', type: 'time_window', start: '09:00', end: '17:00', tz },
        { id: 'burst', type: 'rate_limit', max: caps[0], window: '1m' },
        { id: 'daily', type: 'spend_limit', field: '/amount', max: caps[1], window: '1d' },
      ],
    },
  },
})

const CEDAR_POLICY = `
permit (principal, action == Action::"payments.transfer", resource == Gate::"payments.transfer")
when {
  principal.permissions.contains("payments:transfer") &&
  context.payload.amount <= 500 &&
  ["USD", "EUR"].contains(context.payload.currency) &&
  context.state.minute_of_day >= 540 &&
  context.state.minute_of_day < 1020 &&
  context.state.calls_last_minute + 1 <= 10 &&
  context.state.spent_today + context.payload.amount <= 5000
};`

const CASBIN_MODEL = `
[request_definition]
r = sub, act, obj, st
[policy_definition]
p = act, perm
[policy_effect]
e = some(where (p.eft == allow))
[matchers]
m = r.act == p.act && r.sub.permissions.includes(p.perm) && r.obj.amount <= 500 && (r.obj.currency == "USD" || r.obj.currency == "EUR") && r.st.minute_of_day >= 540 && r.st.minute_of_day < 1020 && r.st.calls_last_minute + 1 <= 10 && r.st.spent_today + r.obj.amount <= 5000
`


const { tz, minute } = localZone()
const issuer = Issuer.generate()
const token = issuer.issuePassport({ agentId: AGENT, permissions: PERMISSIONS }).token
const sub = { id: AGENT, permissions: PERMISSIONS }

const pre = cedar.preparsePolicySet('bench', { staticPolicies: CEDAR_POLICY })
if (pre.type !== 'success') throw new Error(`cedar: ${JSON.stringify(pre)}`)
const cedarEntities = [{ uid: { type: 'Agent', id: AGENT }, attrs: { permissions: PERMISSIONS }, parents: [] }]
const enforcer = await newEnforcer(newModelFromString(CASBIN_MODEL), new StringAdapter(`p, ${GATE}, payments:transfer`))

const version = (pkg) => JSON.parse(readFileSync(new URL(`./node_modules/${pkg}/package.json`, import.meta.url), 'utf8')).version

const results = {}
for (const c of CASES) {
  const want = c === 'allow'
  const engine = new Engine({ policy: policy(tz, [10, 5000]), trustedIssuers: [issuer.did] })
  for (const amount of history(c)) {
    if (!engine.enforce({ gate: GATE, passport: token, payload: payload(amount) }).allowed) throw new Error(`setup: history of ${c} denied`)
  }
  const p = payload(amountOf(c))
  const st = state(c, minute)
  const req = { gate: GATE, passport: token, payload: p }
  const call = {
    principal: { type: 'Agent', id: AGENT },
    action: { type: 'Action', id: GATE },
    resource: { type: 'Gate', id: GATE },
    context: { payload: p, state: st },
    preparsedPolicySetId: 'bench',
    entities: cedarEntities,
  }
  const fns = {
    passgate: () => engine.dryRun(req).allowed,
    'cedar-wasm': () => {
      const a = cedar.statefulIsAuthorized(call)
      if (a.type !== 'success') throw new Error(`cedar: ${JSON.stringify(a.errors)}`)
      return a.response.decision === 'allow'
    },
    casbin: () => enforcer.enforceSync(sub, GATE, p, st),
  }
  for (const [n, f] of Object.entries(fns)) if (f() !== want) throw new Error(`parity: ${n} says ${!want} on ${c}`)
  results[c] = interleaved(fns, { batch: 200, rounds: 41, warmup: 2000 })
  for (const [n, f] of Object.entries(fns)) if (f() !== want) throw new Error(`parity after the run: ${n} on ${c}`)
}
{
  const engine = new Engine({ policy: policy(tz, [1_000_000_000, 1_000_000_000_000]), trustedIssuers: [issuer.did] })
  const req = { gate: GATE, passport: token, payload: payload(120) }
  results['full-decision'] = interleaved({ 'passgate enforce': () => engine.enforce(req).allowed }, { batch: 50, rounds: 21, warmup: 300 })
}

const out = {
  node: process.version,
  cedarWasm: version('@cedar-policy/cedar-wasm'),
  casbin: version('casbin'),
  tz,
  results,
}
writeFileSync(process.argv[2] ?? 'node-results.json', JSON.stringify(out, null, 1))
for (const [c, rows] of Object.entries(results)) {
  for (const [n, r] of Object.entries(rows)) console.log(`node ${c.padEnd(15)} ${n.padEnd(17)} ${r.median.toFixed(2).padStart(10)} µs (min ${r.min.toFixed(2)})`)
}
