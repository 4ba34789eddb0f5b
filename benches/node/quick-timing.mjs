// Quick timing of the Node package on the workload of core/benches/engine.rs (same policy, same
// payload): the median cost of one `dryRun` (stateless gate, cached passport) and one `enforce`
// (memory store, counters, signed attestation), and `enforceAsync` throughput.
//
// Run after `make demo`: `node benches/node/quick-timing.mjs`. Compare with
// `cargo bench -p passgate --bench engine -- --quick`.
import { Engine, Issuer } from '../../bindings-node/passgate.mjs'
import { interleaved } from './timing.mjs'

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
  return { engine, token }
}

const payload = () => ({
  amount: 120,
  currency: 'USD',
  to: 'acct_9f2k3j4h',
  memo: 'invoice 2026-114 for cloud compute, October',
  metadata: { invoice: 'INV-2026-114', project: 'research', requested_by: 'agent-1', approved: true },
})


const results = {}

{
  const { engine, token } = setup(false)
  const req = { gate: 'payments.transfer', passport: token, payload: payload() }
  if (!engine.dryRun(req).allowed) throw new Error('setup: dry run denied')
  // The native method under the JS layer: the payload walked by napi (no JSON.stringify route).
  Object.assign(results, interleaved({
    'dryRun (stateless gate, cached passport)': () => engine.dryRun(req),
    '  dryRun, native walk + JSON.parse (no JS payload route)': () => JSON.parse(engine.dryRunText(req)),
  }))
}
{
  const { engine, token } = setup(true)
  const req = { gate: 'payments.transfer', passport: token, payload: payload() }
  if (!engine.enforce(req).allowed) throw new Error('setup: enforce denied')
  Object.assign(results, interleaved({
    'enforce (memory store, counters, signed attestation)': () => engine.enforce(req),
    '  enforce, native walk + JSON.parse': () => JSON.parse(engine.enforceText(req)),
  }, { batch: 50, rounds: 41, warmup: 300 }))
  // Async: 1000 calls in flight at once, wall time per call (the libuv pool runs 4 threads).
  const n = 1000
  const t = process.hrtime.bigint()
  await Promise.all(Array.from({ length: n }, () => engine.enforceAsync(req)))
  const wall = Number(process.hrtime.bigint() - t) / 1000 / n
  results['enforceAsync (1000 in flight, wall time per call)'] = { median: wall, min: wall }
}

console.log(`${''.padEnd(58)} ${'median'.padStart(9)} ${'min'.padStart(9)}`)
for (const [name, { median, min }] of Object.entries(results)) {
  console.log(`${name.padEnd(58)} ${median.toFixed(2).padStart(6)} µs ${min.toFixed(2).padStart(6)} µs`)
}
