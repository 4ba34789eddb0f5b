// The `passgate` bin (bin/passgate.js): the command lines of tests/cli/cases.json, shared with the
// Rust and Python suites, and `mcp serve` on stdio driven as a client would.
import { readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { spawnSync } from 'node:child_process'
import { test } from 'node:test'
import assert from 'node:assert/strict'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')
const BIN = join(HERE, '..', 'bin', 'passgate.js')
const { cases } = JSON.parse(readFileSync(join(ROOT, 'tests', 'cli', 'cases.json'), 'utf8'))

const run = (argv, input = '') =>
  spawnSync(process.execPath, [BIN, ...argv], { input, cwd: ROOT, encoding: 'utf8', timeout: 120_000 })

test('package.json declares the bin', () => {
  const pkg = JSON.parse(readFileSync(join(HERE, '..', 'package.json'), 'utf8'))
  assert.equal(pkg.bin.passgate, 'bin/passgate.js')
  assert.ok(pkg.files.includes('bin/passgate.js'))
  assert.ok(cases.length >= 15)
})

for (const c of cases) {
  test(`shared command line: ${c.name}`, () => {
    const r = run(c.argv)
    const ctx = `${JSON.stringify(c.argv)}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`
    assert.equal(r.status, c.exit, ctx)
    if ('stdout' in c) assert.equal(r.stdout, c.stdout, ctx)
    if ('stdout_regex' in c) assert.match(r.stdout, new RegExp(c.stdout_regex), ctx)
    if ('stderr_regex' in c) assert.match(r.stderr, new RegExp(c.stderr_regex), ctx)
  })
}

const rpc = (id, method, params) => JSON.stringify({ jsonrpc: '2.0', id, method, params })

test('mcp serve on stdio', () => {
  const lines = [
    rpc(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } }),
    JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }),
    rpc(2, 'tools/list', {}),
    rpc(3, 'tools/call', { name: 'enforce_action', arguments: { gate: 'payments.send', payload: { amount: 20, currency: 'USD', to: 'acct_1' } } }),
    rpc(4, 'tools/call', { name: 'enforce_action', arguments: { gate: 'payments.send', payload: { amount: 900, currency: 'USD', to: 'acct_1' } } }),
  ]
  const r = run(['mcp', 'serve'], lines.join('\n') + '\n')
  assert.equal(r.status, 0, r.stderr)
  const replies = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(replies.map((m) => m.id), [1, 2, 3, 4], 'stdout carries the transport only')
  assert.equal(replies[0].result.serverInfo.name, 'passgate')
  const names = replies[1].result.tools.map((t) => t.name)
  assert.ok(names.includes('enforce_action') && !names.includes('reset_cumulative_state'))
  assert.equal(replies[2].result.structuredContent.decision, 'allow')
  assert.equal(replies[3].result.structuredContent.decision, 'deny')
  assert.match(r.stderr, /demo passport/)
})
