// passgate/mcp: the tool catalogue, the JSON-RPC handler, and guard() — whose handler must NEVER
// run without an `allow`. No MCP SDK here (the package does not need one): the guard is called the
// way McpServer calls a registerTool callback, `(args, extra)`; tests/mcp/ runs it under the SDK.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { createConnection, createServer } from 'node:net'

import * as mcpEsm from '../mcp.mjs'
import { Engine, Issuer, PAY_POLICY, claims, passgate, setup, signToken, tamper, throwsCode } from './helpers.mjs'

const require = createRequire(import.meta.url)
const mcp = require('../mcp.js')
const { tools, handle, handleAsync, guard, PASSPORT_META } = mcp

/** The SDK's `extra` for a call carrying `token` in `_meta` (as RequestHandlerExtra has it). */
const extra = (token, more = {}) => ({
  signal: new AbortController().signal,
  requestId: 7,
  sessionId: 'sess-1',
  ...(token === undefined ? {} : { _meta: { [PASSPORT_META]: token } }),
  ...more,
})

/** A guarded handler that counts its runs. */
function counted(engine, gate = 'pay', options) {
  const runs = []
  const handler = async (args, ex) => {
    runs.push([args, ex])
    return { content: [{ type: 'text', text: 'done' }] }
  }
  return { runs, tool: guard(engine, gate, handler, options) }
}

/** The JSON of a guard error result (asserting its shape). */
function errorJson(result) {
  assert.equal(result.isError, true, JSON.stringify(result))
  assert.deepEqual(Object.keys(result).sort(), ['content', 'isError'])
  assert.equal(result.content.length, 1)
  assert.equal(result.content[0].type, 'text')
  return JSON.parse(result.content[0].text)
}

test('require and import expose the same passgate/mcp, also by name through package.json exports', () => {
  for (const name of ['tools', 'handle', 'handleAsync', 'guard']) {
    assert.equal(typeof mcp[name], 'function', name)
    assert.equal(mcpEsm[name], mcp[name], name)
  }
  assert.equal(PASSPORT_META, 'passgate/passport')
  assert.equal(require('passgate/mcp'), mcp)
  assert.equal(passgate.mcpTools, require('passgate').mcpTools)
})

test('tools(): the 17 tools of the catalogue, each with an object inputSchema', () => {
  const list = tools()
  assert.equal(list.length, 17)
  const names = list.map((t) => t.name)
  for (const name of ['enforce_action', 'authorize_dry_run', 'verify_passport', 'issue_passport', 'revoke_passport', 'list_gates', 'get_gate', 'list_constraint_types', 'list_constraint_templates', 'get_cumulative_state', 'reset_cumulative_state', 'get_attestations', 'verify_attestation']) {
    assert.ok(names.includes(name), name)
  }
  for (const t of list) {
    assert.equal(typeof t.description, 'string')
    assert.equal(t.inputSchema.type, 'object', t.name)
    assert.deepEqual(Object.keys(t).sort(), ['description', 'inputSchema', 'name'])
  }
  assert.deepEqual(list.find((t) => t.name === 'revoke_passport').inputSchema.required, ['passport_id'])
})

test('handle(): text in, text out; objects in, objects out; notifications answer null', async () => {
  const { engine } = setup()
  assert.equal(handle(engine, '{"jsonrpc": "2.0", "id": 1, "method": "ping"}'), '{"jsonrpc":"2.0","id":1,"result":{}}')
  assert.deepEqual(handle(engine, { jsonrpc: '2.0', id: 'x', method: 'ping' }), { jsonrpc: '2.0', id: 'x', result: {} })
  assert.equal(handle(engine, { jsonrpc: '2.0', method: 'notifications/initialized' }), null)
  assert.equal(await handleAsync(engine, '{"jsonrpc": "2.0", "method": "notifications/initialized"}'), null)
  const init = await handleAsync(engine, { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '0' } } })
  assert.equal(init.result.protocolVersion, '2025-06-18')
  const list = handle(engine, { jsonrpc: '2.0', id: 2, method: 'tools/list' })
  assert.deepEqual(list.result.tools, tools())
  // Protocol faults are JSON-RPC errors, not throws.
  assert.equal(JSON.parse(handle(engine, '{"jsonrpc": "2.0", "id": 1, "id": 2, "method": "ping"}')).error.code, -32700)
  assert.equal(JSON.parse(handle(engine, 'not json')).error.code, -32700)
  const bad = await handleAsync(engine, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get_gate', arguments: { gate: 5 } } })
  assert.equal(bad.error.code, -32602)
  assert.match(bad.error.message, /\/gate/)
})

test('handle(): tools/call answers through the engine; a deny is an isError result; issue_passport needs an issuer', async () => {
  const { engine, passport, issuer } = setup()
  const call = (name, args, options) => handleAsync(engine, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }, options)
  const allowed = (await call('enforce_action', { gate: 'pay', passport: passport.token, payload: { amount: 10 } })).result
  assert.equal(allowed.isError, false)
  assert.equal(JSON.parse(allowed.content[0].text).decision, 'allow')
  const denied = (await call('enforce_action', { gate: 'pay', passport: passport.token, payload: { amount: 900 } })).result
  assert.equal(denied.isError, true)
  assert.equal(denied.structuredContent.checks.find((c) => !c.passed).constraint, 'per-call')
  const none = (await call('issue_passport', { agent_id: 'b', permissions: ['pay'] })).result
  assert.equal(none.isError, true)
  assert.equal(none.structuredContent.error.code, 'INVALID_ARGUMENT')
  for (const key of [issuer, issuer.secret]) {
    const issued = (await call('issue_passport', { agent_id: 'b', permissions: ['pay'] }, { issuer: key })).result
    assert.equal(issued.isError, false)
    assert.equal(engine.verifyPassport(issued.structuredContent.token).sub, 'b')
  }
  // The sync handler sees the same state.
  const state = handle(engine, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'get_cumulative_state', arguments: {} } })
  assert.deepEqual(state.result.structuredContent.counters.map((c) => [c.constraint, c.used]), [['cap', '10']])
})

test('native mcpHandle refuses arguments of the wrong kind with INVALID_ARGUMENT', async () => {
  const { engine } = setup()
  throwsCode(() => passgate.mcpHandle({}, '{}'), 'INVALID_ARGUMENT')
  throwsCode(() => passgate.mcpHandle(engine, { jsonrpc: '2.0' }), 'INVALID_ARGUMENT')
  throwsCode(() => passgate.mcpHandle(engine, '{}', 42), 'INVALID_ARGUMENT')
  throwsCode(() => passgate.mcpHandleAsync(null, '{}'), 'INVALID_ARGUMENT')
  assert.throws(() => handle(engine, '{}', 'not options'), TypeError)
})

test('guard: an allow runs the handler once, with exactly the arguments the SDK passed', async () => {
  const { engine, passport } = setup()
  const { runs, tool } = counted(engine)
  const ex = extra(passport.token)
  const result = await tool({ amount: 20 }, ex)
  assert.deepEqual(result, { content: [{ type: 'text', text: 'done' }] })
  assert.equal(runs.length, 1)
  assert.deepEqual(runs[0][0], { amount: 20 })
  assert.equal(runs[0][1], ex)
  // Enforced for real: counted, attested, with the MCP ids as trace.
  assert.equal(engine.cumulativeState({ constraint: 'cap' })[0].used, '20')
  const [record] = engine.attestations()
  // (An attestation body holds no JSON numbers but integers as decimal strings.)
  assert.deepEqual(record.body.trace, { mcp_request_id: '7', mcp_session_id: 'sess-1' })
})

test('guard: a deny never runs the handler and answers the refusal JSON (failed checks only)', async () => {
  const { engine, passport } = setup()
  const { runs, tool } = counted(engine)
  const refusal = errorJson(await tool({ amount: 600 }, extra(passport.token)))
  assert.deepEqual(Object.keys(refusal), ['decision', 'gate', 'evaluation_id', 'checks'])
  assert.equal(refusal.decision, 'deny')
  assert.equal(refusal.gate, 'pay')
  assert.match(refusal.evaluation_id, /^evl_/)
  assert.deepEqual(refusal.checks, [{ constraint: 'per-call', type: 'max_value', passed: false, message: refusal.checks[0].message, observed: '600', limit: '500' }])
  // The same evaluation is the one attested.
  assert.equal(engine.attestations({ evaluationId: refusal.evaluation_id }).length, 1)
  // A cumulative cap: its check carries max_admissible, as in the decision.
  await tool({ amount: 500 }, extra(passport.token))
  await tool({ amount: 400 }, extra(passport.token))
  const cap = errorJson(await tool({ amount: 200 }, extra(passport.token)))
  const d = engine.dryRun({ gate: 'pay', passport, payload: { amount: 200 } })
  assert.deepEqual(cap.checks, d.checks.filter((c) => !c.passed))
  assert.equal(cap.checks[0].max_admissible, '100')
  assert.equal(runs.length, 2)
})

test('guard: missing, forged, expired, untrusted, revoked and not-a-string passports never run the handler', async () => {
  const { engine, passport, issuer } = setup()
  const { runs, tool } = counted(engine)
  const now = Math.floor(Date.now() / 1000)
  const cases = [
    [undefined, 'PASSPORT_MISSING'],
    ['', null],
    ['not.a.token', 'PASSPORT_MALFORMED'],
    [tamper(passport.token), 'PASSPORT_SIGNATURE'],
    [signToken(issuer, claims(issuer, now - 10 * 86400)), 'PASSPORT_EXPIRED'],
    [signToken(issuer, claims(issuer, now), { alg: 'HS256', typ: 'passport+jwt', kid: issuer.did }), 'PASSPORT_ALGORITHM'],
    [Issuer.generate().issuePassport({ agentId: 'a', permissions: ['pay'] }).token, 'ISSUER_UNTRUSTED'],
    [issuer.issuePassport({ agentId: 'a', permissions: ['read'] }).token, 'PERMISSION_DENIED'],
  ]
  for (const [token, code] of cases) {
    const refusal = errorJson(await tool({ amount: 1 }, extra(token)))
    assert.equal(refusal.decision, 'deny', String(token))
    const check = refusal.checks.find((c) => c.constraint === 'passport' || c.constraint === 'permissions')
    assert.ok(check, JSON.stringify(refusal))
    if (code) assert.equal(check.code, code, JSON.stringify(refusal))
  }
  engine.revokePassport(passport.passportId)
  assert.equal(errorJson(await tool({ amount: 1 }, extra(passport.token))).checks[0].code, 'PASSPORT_REVOKED')
  // `_meta` from the wire is untrusted: a passport that is not a string is an error, not a lookup.
  for (const bad of [42, { token: passport.token }, [passport.token], true]) {
    const failure = errorJson(await tool({ amount: 1 }, extra(bad)))
    assert.equal(failure.error.code, 'INVALID_ARGUMENT')
    assert.match(failure.error.message, /passgate\/passport/)
  }
  // No extra at all, or no _meta: anonymous.
  assert.equal(errorJson(await tool({ amount: 1 }, undefined)).decision, 'deny')
  assert.equal(errorJson(await tool({ amount: 1 }, { _meta: null })).decision, 'deny')
  assert.equal(runs.length, 0)
})

test('guard: malformed or oversized arguments are error results with the code, never a run', async () => {
  const { engine, passport } = setup()
  const { runs, tool } = counted(engine)
  const ex = extra(passport.token)
  const cycle = {}
  cycle.self = cycle
  for (const [args, code] of [
    [{ amount: NaN }, 'PAYLOAD_INVALID'],
    [{ amount: () => 1 }, 'PAYLOAD_INVALID'],
    [{ amount: 1, when: new Date() }, 'PAYLOAD_INVALID'],
    [cycle, 'LIMIT_EXCEEDED'],
    [{ amount: 1, blob: 'x'.repeat(2 << 20) }, 'LIMIT_EXCEEDED'],
    ['not an object', 'PAYLOAD_INVALID'],
  ]) {
    const failure = errorJson(await tool(args, ex))
    assert.deepEqual(Object.keys(failure), ['error'])
    assert.equal(failure.error.code, code, JSON.stringify(failure))
    assert.equal(typeof failure.error.message, 'string')
  }
  // A payload the gate's schema refuses is a deny (fail closed), not a run.
  const typed = new Engine({ policy: { version: 1, gates: { g: { input_schema: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } } } }, trustedIssuers: [] })
  const anon = counted(typed, 'g')
  const r = await anon.tool({ n: 'one' }, extra())
  assert.equal(r.isError, true)
  assert.equal(runs.length + anon.runs.length, 0)
})

test('guard: a payload or passport function that throws (or rejects) is an INTERNAL error result, never a run', async () => {
  const { engine, passport } = setup()
  const boom = () => {
    throw new TypeError('host bug')
  }
  for (const options of [{ payload: boom }, { passport: boom }, { payload: async () => Promise.reject(new Error('later')) }, { passport: () => Promise.reject('plain string') }]) {
    const { runs, tool } = counted(engine, 'pay', options)
    const failure = errorJson(await tool({ amount: 1 }, extra(passport.token)))
    assert.equal(failure.error.code, 'INTERNAL')
    // The type only: a host error's text is not for the client.
    assert.match(failure.error.message, /^the guard failed before a decision \((TypeError|Error|string)\)$/)
    assert.doesNotMatch(failure.error.message, /host bug|later|plain string/)
    assert.equal(runs.length, 0)
  }
  // A passgate error thrown by a host function keeps its code.
  const { tool } = counted(engine, 'pay', { payload: () => { throw new passgate.StoreError('redis down') } })
  assert.equal(errorJson(await tool({}, extra())).error.code, 'STORE_UNAVAILABLE')
})

test('guard: payload and passport functions decide what is enforced', async () => {
  const { engine, passport } = setup()
  const seen = []
  const { runs, tool } = counted(engine, 'pay', {
    payload: (args, ex) => {
      seen.push(ex.requestId)
      return { amount: args.cents / 100 }
    },
    passport: async (_args, ex) => (ex.sessionId === 'sess-1' ? passport.token : undefined),
  })
  await tool({ cents: 45000 }, extra(undefined))
  assert.equal(runs.length, 1)
  assert.equal(engine.cumulativeState({ constraint: 'cap' })[0].used, '450')
  const refusal = errorJson(await tool({ cents: 55000 }, extra(undefined)))
  assert.deepEqual(refusal.checks.map((c) => c.constraint), ['per-call'])
  assert.equal(errorJson(await tool({ cents: 100 }, extra(undefined, { sessionId: 'other' }))).checks[0].constraint, 'passport')
  assert.deepEqual(seen, [7, 7, 7])
  assert.equal(runs.length, 1)
})

test('guard: an escalation never runs the handler and carries the approval request; the approved retry does', async () => {
  const issuer = Issuer.generate()
  const passport = issuer.issuePassport({ agentId: 'a', permissions: ['pay'] })
  const engine = new Engine({
    policy: { version: 1, gates: { wire: { require: ['pay'], constraints: [{ id: 'big', type: 'approval', when: { field: '/amount', op: 'gt', value: 100 } }] } } },
    trustedIssuers: [issuer.did],
  })
  const { runs, tool } = counted(engine, 'wire')
  const refusal = errorJson(await tool({ amount: 500 }, extra(passport.token)))
  assert.deepEqual(Object.keys(refusal), ['decision', 'gate', 'evaluation_id', 'checks', 'approval_request'])
  assert.equal(refusal.decision, 'escalate')
  assert.equal(refusal.approval_request.evaluation_id, refusal.evaluation_id)
  assert.equal(runs.length, 0)
  assert.equal((await tool({ amount: 50 }, extra(passport.token))).isError, undefined)
  assert.equal(runs.length, 1)
})

test('guard: a monitor-mode gate allows (and records) what it would deny', async () => {
  const { engine, passport } = setup({ version: 1, gates: { pay: { ...PAY_POLICY.gates.pay, mode: 'monitor' } } })
  const { runs, tool } = counted(engine)
  await tool({ amount: 900 }, extra(passport.token))
  assert.equal(runs.length, 1)
  assert.equal(engine.attestations()[0].body.decision, 'allow')
})

test('guard: a tool registered without inputSchema is called as (extra): empty payload, handler(extra)', async () => {
  const { engine, passport } = setup({ version: 1, gates: { ping: { require: ['pay'] } } })
  const calls = []
  const tool = guard(engine, 'ping', (...a) => {
    calls.push(a)
    return { content: [] }
  })
  const ex = extra(passport.token)
  await tool(ex)
  assert.equal(calls.length, 1)
  assert.equal(calls[0].length, 1)
  assert.equal(calls[0][0], ex)
  assert.equal(errorJson(await tool(extra(undefined))).decision, 'deny')
  assert.equal(calls.length, 1)
})

test('guard: a store that fails is a STORE_UNAVAILABLE error result, never a run', async (t) => {
  // A redis-server of our own (make test installs it), killed under a live engine.
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port
      s.close(() => resolve(p))
    })
  })
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const exited = new Promise((resolve) => redis.on('exit', resolve))
  t.after(() => redis.kill('SIGKILL'))
  await new Promise((resolve, reject) => {
    redis.on('error', reject)
    const attempt = () => {
      const c = createConnection(port, '127.0.0.1')
      c.on('connect', () => {
        c.destroy()
        resolve()
      })
      c.on('error', () => setTimeout(attempt, 50))
    }
    attempt()
  })
  const { engine, passport } = setup(PAY_POLICY, { store: `redis://127.0.0.1:${port}/0?timeout_ms=500` })
  const { runs, tool } = counted(engine)
  assert.equal((await tool({ amount: 1 }, extra(passport.token))).isError, undefined)
  assert.equal(runs.length, 1)
  redis.kill('SIGKILL')
  await exited
  const failure = errorJson(await tool({ amount: 1 }, extra(passport.token)))
  assert.equal(failure.error.code, 'STORE_UNAVAILABLE', JSON.stringify(failure))
  assert.equal(runs.length, 1)
})

test('guard refuses to wrap with bad arguments (at registration, not per call)', () => {
  const { engine } = setup()
  const h = () => ({ content: [] })
  assert.throws(() => guard({}, 'pay', h), TypeError)
  assert.throws(() => guard(engine, '', h), TypeError)
  assert.throws(() => guard(engine, 'pay', 'h'), TypeError)
  assert.throws(() => guard(engine, 'pay', h, { payload: 'x' }), TypeError)
  assert.throws(() => guard(engine, 'pay', h, null), TypeError)
})
