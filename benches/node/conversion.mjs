// How a payload should cross into Rust: walking the JS object in Rust (what the package does)
// versus `JSON.stringify` in JS + the core's strict parser, on the benchmark payload.
//
// Needs the bench hooks, which the package does not ship:
//   cd bindings-node && npx napi build --platform --release --features bench-internals \
//       --output-dir /tmp/passgate-bench --no-js --dts /tmp/passgate-bench/bench.d.ts
//   node benches/node/conversion.mjs /tmp/passgate-bench/passgate.linux-x64-gnu.node
import { createRequire } from 'node:module'

const path = process.argv[2]
if (!path) throw new Error('usage: node benches/node/conversion.mjs <path to a bench-internals build>')
const native = createRequire(import.meta.url)(path)

const payload = {
  amount: 120,
  currency: 'USD',
  to: 'acct_9f2k3j4h',
  memo: 'invoice 2026-114 for cloud compute, October',
  metadata: { invoice: 'INV-2026-114', project: 'research', requested_by: 'agent-1', approved: true },
}

function median(fn, { batch = 1000, rounds = 41, warmup = 20000 } = {}) {
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

const rows = {
  'walk the object in Rust': () => native.benchWalk(payload),
  'JSON.stringify + strict parse': () => native.benchParse(JSON.stringify(payload)),
  'JSON.stringify + NaN guard + strict parse': () => {
    const s = JSON.stringify(payload)
    if (s.includes('null')) return native.benchWalk(payload)
    return native.benchParse(s)
  },
  'JSON.stringify alone': () => JSON.stringify(payload),
}
for (const [name, fn] of Object.entries(rows)) console.log(`${name.padEnd(44)} ${median(fn).toFixed(3).padStart(8)} µs`)

// A JS-side check that a value is plain JSON data (what the Rust walk enforces), so that
// JSON.stringify cannot silently drop or transform anything.
function plain(v, depth) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return true
    case 'number':
      return Number.isFinite(v)
    case 'object': {
      if (v === null) return true
      if (depth >= 64) return false
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) if (!plain(v[i], depth + 1)) return false
        return true
      }
      const proto = Object.getPrototypeOf(v)
      if (proto !== Object.prototype && proto !== null) return false
      for (const k in v) {
        if (!Object.hasOwn(v, k)) return false
        const x = v[k]
        if (x !== undefined && !plain(x, depth + 1)) return false
      }
      return true
    }
    default:
      return false
  }
}
const more = {
  'JS check + JSON.stringify + strict parse': () => {
    if (!plain(payload, 0)) throw new Error('not plain')
    return native.benchParse(JSON.stringify(payload))
  },
  'JS check + JSON.stringify + serde_json': () => {
    if (!plain(payload, 0)) throw new Error('not plain')
    return native.benchParseSerde(JSON.stringify(payload))
  },
  'JS check alone': () => plain(payload, 0),
}
for (const [name, fn] of Object.entries(more)) console.log(`${name.padEnd(44)} ${median(fn).toFixed(3).padStart(8)} µs`)

// The way back: a decision built property by property through napi, or serialised to JSON text
// in Rust and parsed by JSON.parse (both include one core dry run of the same request).
{
  const issuer = native.Issuer.generate()
  const engine = new native.Engine({
    policy: { version: 1, gates: { 'payments.transfer': { require: ['payments:transfer'], constraints: [
      { id: 'per-call', type: 'max_value', field: '/amount', max: 500 },
      { id: 'currency', type: 'allowed_values', field: '/currency', values: ['USD', 'EUR'] },
      { id: 'to', type: 'pattern', field: '/to', regex: 'acct_[0-9a-z]{4,32}' },
    ] } } },
    trustedIssuers: [issuer.did],
  })
  const token = issuer.issuePassport({ agentId: 'agent-1', permissions: ['payments:transfer'] }).token
  const req = { gate: 'payments.transfer', passport: token, payload }
  const back = {
    'decision: JSON text + JSON.parse': () => JSON.parse(native.benchDryRunText(engine, req)),
    'decision: JSON text only': () => native.benchDryRunText(engine, req),
  }
  for (const [name, fn] of Object.entries(back)) console.log(`${name.padEnd(44)} ${median(fn, { batch: 200, warmup: 2000 }).toFixed(3).padStart(8)} µs`)
}
