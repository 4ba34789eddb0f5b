// Timing shared by the Node benches (bench.mjs, quick-timing.mjs).

/**
 * Median (and minimum) µs per call of each function, over `rounds` rounds that run every function
 * in turn for `batch` calls: interleaving keeps a busy machine's drift out of the comparison.
 */
export function interleaved(fns, { batch = 100, rounds = 61, warmup = 1000 } = {}) {
  const names = Object.keys(fns)
  for (const n of names) for (let i = 0; i < warmup; i++) fns[n]()
  const per = Object.fromEntries(names.map((n) => [n, []]))
  for (let r = 0; r < rounds; r++) {
    for (const n of names) {
      const t = process.hrtime.bigint()
      for (let i = 0; i < batch; i++) fns[n]()
      per[n].push(Number(process.hrtime.bigint() - t) / 1000 / batch)
    }
  }
  return Object.fromEntries(names.map((n) => {
    const s = per[n].sort((a, b) => a - b)
    return [n, { median: s[s.length >> 1], min: s[0] }]
  }))
}
