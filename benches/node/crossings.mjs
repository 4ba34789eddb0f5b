// Every crossing of a Node `dryRun` / `enforce`, measured alone and interleaved (issue 20 item 3),
// on the workload of core/benches/engine.rs (same policy, same payload), next to the same core
// dry run timed inside the addon (no crossing at all):
//
// - in:  the payload (walked by napi in Rust, or JSON.stringify in JS + the core's strict parser),
//        and the whole request read as `dryRun` reads it;
// - out: the decision serialised in Rust and handed over as one JSON object (`dryRunText`) for
//        JSON.parse (the eager decision, before), or in two parts (`dryRunParts`) for passgate.js's
//        lazy decision (small fields parsed at once, heavy ones on first read), for a dry run and
//        for an enforce (which carries a signed attestation);
// - the whole call, eager and lazy, and the core alone.
//
// Prints medians and minima in µs; no thresholds. Needs the bench hooks, which the package does
// not ship (`make bench-crossings` does both steps):
//   cd bindings-node && npx napi build --platform --release --features bench-internals \
//       --output-dir /tmp/passgate-bench --no-js --dts /tmp/passgate-bench/bench.d.ts
//   node benches/node/crossings.mjs /tmp/passgate-bench/passgate.linux-x64-gnu.node
import Module, { createRequire } from 'node:module'

import { interleaved } from './timing.mjs'

const path = process.argv[2]
if (!path) throw new Error('usage: node benches/node/crossings.mjs <path to a bench-internals build>')
const require = createRequire(import.meta.url)
const native = require(path)
// passgate.js over the bench build: its `require('./index.js')` gets this native module.
const index = require.resolve('../../bindings-node/index.js')
const mod = new Module(index)
mod.filename = index
mod.loaded = true
mod.exports = native
require.cache[index] = mod
const passgate = require('../../bindings-node/passgate.js')
const decisionOf = passgate[Symbol.for('passgate.decisionOf')]
const { Engine, Issuer } = passgate

const payload = {
  amount: 120,
  currency: 'USD',
  to: 'acct_9f2k3j4h',
  memo: 'invoice 2026-114 for cloud compute, October',
  metadata: { invoice: 'INV-2026-114', project: 'research', requested_by: 'agent-1', approved: true },
}

function setup(stateful) {
  const issuer = Issuer.generate()
  const constraints = [
    { id: 'per-call', type: 'max_value', field: '/amount', max: 500 },
    { id: 'currency', type: 'allowed_values', field: '/currency', values: ['USD', 'EUR'] },
    { id: 'to', type: 'pattern', field: '/to', regex: 'acct_[0-9a-z]{4,32}' },
  ]
  if (stateful) {
    constraints.push({ id: 'burst', type: 'rate_limit', max: 1_000_000_000, window: '1m' })
    constraints.push({ id: 'daily', type: 'spend_limit', field: '/amount', max: '1000000000000', window: '1d' })
  }
  const engine = new Engine({
    policy: { version: 1, gates: { 'payments.transfer': { require: ['payments:transfer'], constraints } } },
    trustedIssuers: [issuer.did],
  })
  const token = issuer.issuePassport({ agentId: 'agent-1', permissions: ['payments:transfer', 'payments:read', 'web:fetch', 'fs:read'] }).token
  return { engine, req: { gate: 'payments.transfer', passport: token, payload } }
}

const { engine, req } = setup(false)
const enforced = setup(true)
const dry = native.BenchDecision.of(engine, req, false)
const signed = native.BenchDecision.of(enforced.engine, enforced.req, true)
if (!JSON.parse(dry.text()).allowed || !JSON.parse(signed.text()).allowed) throw new Error('setup: denied')
console.log(`decision text: dry run ${dry.text().length} B (parts ${dry.parts().length} B), enforce ${signed.text().length} B`)

const show = (title, rows) => {
  console.log(`\n${title}`)
  console.log(`${''.padEnd(62)} ${'median'.padStart(9)} ${'min'.padStart(9)}`)
  for (const [name, { median, min }] of Object.entries(rows)) {
    console.log(`${name.padEnd(62)} ${median.toFixed(3).padStart(6)} µs ${min.toFixed(3).padStart(6)} µs`)
  }
}

// The core alone: N dry runs timed inside the addon, sampled like the rest (median of rounds).
const core = []
for (let r = 0; r < 41; r++) core.push(native.benchCoreDryRun(engine, req, 200))
core.sort((a, b) => a - b)

const opts = { batch: 200, rounds: 61, warmup: 3000 }
show('in (payload and request)', interleaved({
  'payload: napi walk in Rust': () => native.benchWalk(payload),
  'payload: JSON.stringify + strict parse': () => native.benchParse(JSON.stringify(payload)),
  'request: read, payload walked': () => native.benchReadRequest(req),
  'request: read, payload as JSON.stringify text': () => native.benchReadRequest(req, JSON.stringify(payload)),
}, opts))

const readAll = (d) => JSON.stringify(d)
show('out (a held decision: serialise in Rust, cross, build in JS)', interleaved({
  'dry run: text (Rust serialise + string crossing)': () => dry.text(),
  'dry run: parts (Rust serialise + string crossing)': () => dry.parts(),
  'dry run: eager, JSON.parse(text)': () => JSON.parse(dry.text()),
  'dry run: lazy, decisionOf(parts), .allowed only': () => decisionOf(dry.parts()).allowed,
  'dry run: lazy, decisionOf(parts), .checks read': () => decisionOf(dry.parts()).checks,
  'dry run: lazy, every field read (JSON.stringify)': () => readAll(decisionOf(dry.parts())),
  'dry run: eager, every field read (JSON.stringify)': () => readAll(JSON.parse(dry.text())),
  'enforce: eager, JSON.parse(text)': () => JSON.parse(signed.text()),
  'enforce: lazy, decisionOf(parts), .allowed only': () => decisionOf(signed.parts()).allowed,
  'enforce: lazy, decisionOf(parts), .attestation read': () => decisionOf(signed.parts()).attestation,
}, opts))

const payloadText = () => JSON.stringify(payload)
const whole = interleaved({
  'dryRun, eager (before: JSON.parse(dryRunText))': () => JSON.parse(engine.dryRunText(req, payloadText())).allowed,
  'dryRun, lazy (now: engine.dryRun)': () => engine.dryRun(req).allowed,
  'dryRun, lazy, .checks read': () => engine.dryRun(req).checks,
}, opts)
whole['core dry_run in the addon (no crossing), per call'] = { median: core[core.length >> 1], min: core[0] }
show('whole dryRun (stateless gate, cached passport)', whole)
show('whole enforce (memory store, counters, signed attestation)', interleaved({
  'enforce, eager (before: JSON.parse(enforceText))': () => JSON.parse(enforced.engine.enforceText(enforced.req, payloadText())).allowed,
  'enforce, lazy (now: engine.enforce)': () => enforced.engine.enforce(enforced.req).allowed,
}, { batch: 50, rounds: 41, warmup: 300 }))
