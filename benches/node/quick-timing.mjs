// Quick timing of the Node package on the workload of core/benches/engine.rs (same policy, same
// payload): the median cost of one `dryRun` (stateless gate, cached passport) and one `enforce`
// (memory store, counters, signed attestation), and `enforceAsync` throughput.
//
// Run after `make demo`: `node benches/node/quick-timing.mjs`. Compare with
// `cargo bench -p passgate --bench engine -- --quick`.
import { Engine, Issuer } from '../../bindings-node/passgate.mjs'

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

/** Median µs per call over `rounds` batches of `batch` calls, after a warm-up. */
function median(fn, { batch = 200, rounds = 41, warmup = 2000 } = {}) {
  for (let i = 0; i < warmup; i++) fn()
  const per = []
  for (let r = 0; r < rounds; r++) {
    const t = process.hrtime.bigint()
    for (let i = 0; i < batch; i++) fn()
    per.push(Number(process.hrtime.bigint() - t) / 1000 / batch)
  }
  per.sort((a, b) => a - b)
  return per[Math.floor(per.length / 2)]
}

const results = {}

{
  const { engine, token } = setup(false)
  const req = { gate: 'payments.transfer', passport: token, payload: payload() }
  if (!engine.dryRun(req).allowed) throw new Error('setup: dry run denied')
  results['dryRun (stateless gate, cached passport)'] = median(() => engine.dryRun(req))
}
{
  const { engine, token } = setup(true)
  const req = { gate: 'payments.transfer', passport: token, payload: payload() }
  if (!engine.enforce(req).allowed) throw new Error('setup: enforce denied')
  results['enforce (memory store, counters, signed attestation)'] = median(() => engine.enforce(req), { batch: 100, rounds: 31, warmup: 500 })
  // Async: 1000 calls in flight at once, wall time per call (the libuv pool runs 4 threads).
  const n = 1000
  const t = process.hrtime.bigint()
  await Promise.all(Array.from({ length: n }, () => engine.enforceAsync(req)))
  results['enforceAsync (1000 in flight, wall time per call)'] = Number(process.hrtime.bigint() - t) / 1000 / n
}

for (const [name, us] of Object.entries(results)) console.log(`${name.padEnd(56)} ${us.toFixed(2).padStart(8)} µs`)
