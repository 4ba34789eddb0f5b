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
const { tools, handle, handleAsync, guard, withGuardArguments, guardArguments, PASSPORT_META, APPROVAL_META, IDEMPOTENCY_META, NOT_EXECUTED } = mcp

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
  for (const name of ['tools', 'handle', 'handleAsync', 'guard', 'withGuardArguments', 'guardArguments']) {
    assert.equal(typeof mcp[name], 'function', name)
    assert.equal(mcpEsm[name], mcp[name], name)
  }
  for (const name of ['PASSPORT_META', 'APPROVAL_META', 'IDEMPOTENCY_META', 'APPROVAL_ARGUMENT', 'IDEMPOTENCY_ARGUMENT', 'NOT_EXECUTED']) {
    assert.equal(mcpEsm[name], mcp[name], name)
  }
  assert.deepEqual(
    [PASSPORT_META, APPROVAL_META, IDEMPOTENCY_META, mcp.APPROVAL_ARGUMENT, mcp.IDEMPOTENCY_ARGUMENT, NOT_EXECUTED],
    ['passgate/passport', 'passgate/approval', 'passgate/idempotency_key', 'passgate_approval', 'passgate_idempotency_key', 'guard.not_executed'],
  )
  assert.equal(require('passgate/mcp'), mcp)
  assert.equal(passgate.mcpTools, require('passgate').mcpTools)
})

const AGENT_TOOLS = ['enforce_action', 'authorize_dry_run', 'verify_passport', 'list_allowed_gates', 'list_my_evaluations', 'evaluate', 'get_evaluation', 'discover_services', 'get_catalog']
const OPERATOR_ONLY = [
  'issue_passport', 'revoke_passport', 'list_gates', 'get_gate', 'list_constraint_types',
  'list_constraint_templates', 'get_cumulative_state', 'reset_cumulative_state',
  'get_attestations', 'verify_attestation', 'settle_hold', 'release_hold', 'approve',
  'deny_approval', 'reissue_passport', 'get_anonymous_policy', 'get_anonymous_log',
  'get_enforcement_attestation', 'get_passport', 'list_passports', 'list_issuers', 'trust_issuer',
  'untrust_issuer', 'export_trust', 'import_trust', 'purge_bundle', 'sessions', 'session',
  'record_attestation', 'chain_head', 'verify_store', 'prune', 'upsert_gate', 'create_gate',
  'update_gate', 'delete_gate', 'set_gate_constraints', 'set_anonymous_policy', 'apply_template',
  'upsert_template', 'get_constraints', 'expire_holds', 'create_api_key', 'list_api_keys',
  'revoke_api_key', 'events', 'ack_event', 'create_passport', 'check_gate', 'set_constraints',
  'apply_constraint_template', 'create_constraint_template', 'get_enforcement_attestations',
  'verify_enforcement_attestation', 'create_catalog', 'publish_catalog', 'get_catalog_version',
  'list_catalog_versions', 'get_catalog_impact', 'verify_catalog',
  'issue_consumption_attestation', 'generate_settlement', 'get_settlement',
  'update_settlement_status', 'export_settlement', 'verify_settlement', 'get_billing_summary',
  'get_sla_compliance',
]

/** A tools/call through handleAsync as `options` (role, passport, issuer): the tool result. */
async function callTool(engine, name, args, options) {
  const reply = await handleAsync(engine, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: args } }, options)
  assert.ok(reply.result, JSON.stringify(reply))
  return reply.result
}

test('tools(role): the agent sees the 9 agent tools, the operator all 77, each titled and annotated', () => {
  assert.deepEqual(tools().map((t) => t.name), AGENT_TOOLS)
  assert.deepEqual(tools('agent'), tools())
  const list = tools('operator')
  assert.equal(list.length, 77)
  assert.deepEqual(new Set(list.map((t) => t.name)), new Set([...AGENT_TOOLS, ...OPERATOR_ONLY]))
  for (const t of list) {
    assert.equal(typeof t.description, 'string')
    assert.equal(typeof t.title, 'string')
    assert.equal(t.inputSchema.type, 'object', t.name)
    const keys = Object.keys(t).filter((k) => k !== 'outputSchema').sort()
    assert.deepEqual(keys, ['annotations', 'description', 'inputSchema', 'name', 'title'], t.name)
    for (const hint of ['readOnlyHint', 'destructiveHint', 'idempotentHint']) assert.equal(typeof t.annotations[hint], 'boolean')
  }
  assert.deepEqual(list.find((t) => t.name === 'revoke_passport').inputSchema.required, ['passport_id'])
  throwsCode(() => tools('root'), 'INVALID_ARGUMENT')
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
  assert.deepEqual(handle(engine, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { role: 'operator' }).result.tools, tools('operator'))
  // Protocol faults are JSON-RPC errors, not throws; a batch is refused.
  assert.equal(JSON.parse(handle(engine, '{"jsonrpc": "2.0", "id": 1, "id": 2, "method": "ping"}')).error.code, -32700)
  assert.equal(JSON.parse(handle(engine, 'not json')).error.code, -32700)
  assert.equal(JSON.parse(handle(engine, '[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]')).error.code, -32600)
  // Arguments that fail a tool's schema are a result the model can correct (with the path).
  const bad = await callTool(engine, 'get_gate', { gate: 5 }, { role: 'operator' })
  assert.equal(bad.isError, true)
  const error = JSON.parse(bad.content[0].text).error
  assert.equal(error.code, 'INVALID_ARGUMENT')
  assert.match(error.message, /\/gate/)
})

test('handle(): tools/call answers through the engine; a deny is a normal result; issue_passport needs an issuer', async () => {
  const { engine, passport, issuer } = setup()
  const allowed = await callTool(engine, 'enforce_action', { gate: 'pay', passport: passport.token, payload: { amount: 10 } })
  assert.equal(allowed.isError, false)
  assert.equal(JSON.parse(allowed.content[0].text).decision, 'allow')
  // The connection's passport is used when the call gives none.
  const denied = await callTool(engine, 'enforce_action', { gate: 'pay', payload: { amount: 900 } }, { passport: passport.token })
  assert.equal(denied.isError, false)
  assert.equal(denied.structuredContent.decision, 'deny')
  assert.equal(denied.structuredContent.checks.find((c) => !c.passed).constraint, 'per-call')
  const operator = { role: 'operator' }
  const none = await callTool(engine, 'issue_passport', { agent_id: 'b', permissions: ['pay'] }, operator)
  assert.equal(none.isError, true)
  assert.equal(JSON.parse(none.content[0].text).error.code, 'INVALID_ARGUMENT')
  for (const key of [issuer, issuer.secret]) {
    const issued = await callTool(engine, 'issue_passport', { agent_id: 'b', permissions: ['pay'] }, { ...operator, issuer: key })
    assert.equal(issued.isError, false)
    assert.equal(engine.verifyPassport(issued.structuredContent.token).sub, 'b')
  }
  // The sync handler sees the same state.
  const state = handle(engine, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'get_cumulative_state', arguments: {} } }, operator)
  assert.deepEqual(state.result.structuredContent.counters.map((c) => [c.constraint, c.used]), [['cap', '10']])
})

test('handle(): the agent role cannot call any operator tool, with or without a passport; the operator can', async () => {
  const { engine, passport, issuer } = setup()
  await callTool(engine, 'enforce_action', { gate: 'pay', payload: { amount: 400 } }, { passport: passport.token })
  const before = engine.attestations()
  const args = {
    reset_cumulative_state: { agent_id: 'a' },
    revoke_passport: { passport_id: passport.passportId },
    issue_passport: { agent_id: 'me', permissions: ['*'] },
    approve: { evaluation_id: 'evl_x', approver: 'a' },
    verify_store: { trusted_signers: [] },
  }
  for (const name of OPERATOR_ONLY) {
    for (const options of [{ issuer }, { issuer, passport: passport.token }, { issuer, role: 'agent' }]) {
      const result = await callTool(engine, name, args[name] ?? {}, options)
      assert.equal(result.isError, true, name)
      const { error } = JSON.parse(result.content[0].text)
      assert.equal(error.code, 'FORBIDDEN', `${name}: ${JSON.stringify(error)}`)
      assert.match(error.message, /operator/)
    }
    // Not listed either.
    assert.ok(!handle(engine, { jsonrpc: '2.0', id: 1, method: 'tools/list' }).result.tools.some((t) => t.name === name))
  }
  assert.deepEqual(engine.attestations(), before)
  assert.equal(engine.cumulativeState({ constraint: 'cap' })[0].used, '400')
  engine.verifyPassport(passport.token) // not revoked
  const reset = await callTool(engine, 'reset_cumulative_state', { agent_id: 'a' }, { role: 'operator' })
  assert.equal(reset.isError, false)
  assert.deepEqual(engine.cumulativeState({ constraint: 'cap' }), [])
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

test('guard: a host Error that merely carries a passgate code is INTERNAL: only passgate-made errors show their message', async () => {
  const { engine, passport } = setup()
  const secret = 'connection to db-prod-7.internal:5432 refused for user payments_rw'
  const hostError = () => Object.assign(new Error(secret), { code: 'STORE_UNAVAILABLE' })
  class DbError extends Error {
    code = 'LIMIT_EXCEEDED'
  }
  for (const options of [
    { payload: () => { throw hostError() } },
    { passport: async () => { throw hostError() } },
    { payload: () => { throw new DbError(secret) } },
    // A getter on the payload, read while the guard hands it to the engine.
    { payload: () => ({ get amount() { throw hostError() } }) },
  ]) {
    const { runs, tool } = counted(engine, 'pay', options)
    const result = await tool({ amount: 1 }, extra(passport.token))
    assert.doesNotMatch(result.content[0].text, /db-prod|payments_rw/)
    const failure = errorJson(result)
    assert.deepEqual(failure, { error: { code: 'INTERNAL', message: failure.error.message } })
    assert.match(failure.error.message, /^the guard failed before a decision \((Error|DbError)\)$/)
    assert.equal(runs.length, 0)
  }
  // (`instanceof` and isPassgateError still match by code: the guard's test is stricter.)
  assert.ok(passgate.isPassgateError(hostError()))
  // The engine's own errors keep their code and message.
  const { tool } = counted(engine, 'pay', { payload: () => ({ amount: 1, when: new Date(0) }) })
  const own = errorJson(await tool({}, extra(passport.token)))
  assert.equal(own.error.code, 'PAYLOAD_INVALID')
  assert.match(own.error.message, /\/when/)
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

// ---- approvals, idempotency keys and holds through the guard ------------------------------------

/** `extra` carrying `token` and more `_meta` entries. */
const withMeta = (token, meta) => ({ ...extra(token), _meta: { ...(token === undefined ? {} : { [PASSPORT_META]: token }), ...meta } })

const WIRE_POLICY = {
  version: 1,
  gates: { wire: { require: ['pay'], constraints: [{ id: 'big', type: 'approval', when: { field: '/amount', op: 'gt', value: 100 } }] } },
}

for (const route of ['meta', 'argument']) {
  test(`guard: an escalation approved by the operator is retried with the token (${route})`, async () => {
    const { engine, passport } = setup(WIRE_POLICY)
    const { runs, tool } = counted(engine, 'wire')
    const escalated = errorJson(await tool({ amount: 500 }, extra(passport.token)))
    assert.equal(escalated.decision, 'escalate')
    const token = engine.approve(escalated.evaluation_id, 'ops@example.com')
    const retry = (args) =>
      route === 'meta' ? tool(args, withMeta(passport.token, { [APPROVAL_META]: token })) : tool({ ...args, passgate_approval: token }, extra(passport.token))
    assert.equal((await retry({ amount: 500 })).isError, undefined)
    // The handler got the arguments without the guard's (so did the payload: the approval matched).
    assert.deepEqual(runs.map(([args]) => args), [{ amount: 500 }])
    const again = errorJson(await retry({ amount: 500 }))
    assert.deepEqual([again.decision, again.checks.map((c) => c.code)], ['deny', ['APPROVAL_USED']])
    const other = errorJson(await retry({ amount: 499 }))
    assert.deepEqual(other.checks.map((c) => c.code), ['APPROVAL_PAYLOAD_MISMATCH'])
    assert.equal(runs.length, 1)
  })

  test(`guard: an idempotency key counts once and never runs the handler twice (${route})`, async () => {
    const { engine, passport } = setup()
    const { runs, tool } = counted(engine)
    const keyed = (args, key) =>
      route === 'meta' ? tool(args, withMeta(passport.token, { [IDEMPOTENCY_META]: key })) : tool({ ...args, passgate_idempotency_key: key }, extra(passport.token))
    assert.equal((await keyed({ amount: 100 }, 'k-1')).isError, undefined)
    const eid = engine.attestations({ kind: 'decision' })[0].body.evaluation_id
    assert.deepEqual(errorJson(await keyed({ amount: 100 }, 'k-1')), {
      error: {
        code: 'IDEMPOTENCY_CONFLICT',
        message: `idempotency key "k-1" already admitted evaluation ${eid}: a key runs the tool at most once; use a new key for a new call`,
      },
    })
    assert.equal(errorJson(await keyed({ amount: 101 }, 'k-1')).error.code, 'IDEMPOTENCY_CONFLICT') // the engine's
    const denied = errorJson(await keyed({ amount: 900 }, 'k-2'))
    const again = errorJson(await keyed({ amount: 900 }, 'k-2'))
    assert.equal(denied.decision, 'deny')
    assert.equal(again.evaluation_id, denied.evaluation_id) // replayed
    assert.equal((await keyed({ amount: 1 }, '')).isError, undefined) // '' is no key
    assert.deepEqual(runs.map(([args]) => args.amount), [100, 1])
    assert.equal(engine.cumulativeState({ constraint: 'cap' })[0].used, '101')
  })
}

test('guard: arguments: false reads _meta only and leaves the arguments as they are', async () => {
  const { engine, passport } = setup(WIRE_POLICY)
  const { runs, tool } = counted(engine, 'wire', { arguments: false })
  const eid = errorJson(await tool({ amount: 500 }, extra(passport.token))).evaluation_id
  const token = engine.approve(eid, 'ops')
  // Not read: the argument is just part of the payload, and no approval is presented.
  assert.equal(errorJson(await tool({ amount: 500, passgate_approval: token }, extra(passport.token))).decision, 'escalate')
  assert.equal((await tool({ amount: 500 }, withMeta(passport.token, { [APPROVAL_META]: token }))).isError, undefined)
  assert.equal(runs.length, 1)
})

test('guard: _meta and the argument must agree; every one of them must be a string', async () => {
  const { engine, passport } = setup()
  const { runs, tool } = counted(engine)
  const same = await tool({ amount: 5, passgate_idempotency_key: 'k' }, withMeta(passport.token, { [IDEMPOTENCY_META]: 'k' }))
  assert.equal(same.isError, undefined)
  const refused = async (args, ex) => errorJson(await tool(args, ex))
  assert.deepEqual(await refused({ amount: 5, passgate_approval: 'a' }, withMeta(passport.token, { [APPROVAL_META]: 'b' })), {
    error: { code: 'INVALID_ARGUMENT', message: 'the approval is given twice, differently: in _meta["passgate/approval"] and as the argument passgate_approval' },
  })
  assert.deepEqual(await refused({ amount: 5 }, withMeta(passport.token, { [APPROVAL_META]: 7 })), {
    error: { code: 'INVALID_ARGUMENT', message: 'the approval (_meta["passgate/approval"]) must be a string' },
  })
  assert.deepEqual(await refused({ amount: 5 }, withMeta(passport.token, { [IDEMPOTENCY_META]: ['k'] })), {
    error: { code: 'INVALID_ARGUMENT', message: 'the idempotency key (_meta["passgate/idempotency_key"]) must be a string' },
  })
  assert.deepEqual(await refused({ amount: 5, passgate_approval: 42 }, extra(passport.token)), {
    error: { code: 'INVALID_ARGUMENT', message: 'the approval (argument passgate_approval) must be a string' },
  })
  assert.deepEqual(await refused({ amount: 5 }, withMeta({ token: passport.token }, {})), {
    error: { code: 'INVALID_ARGUMENT', message: 'the passport (_meta["passgate/passport"]) must be a string' },
  })
  assert.equal(runs.length, 1)
  assert.equal(engine.attestations({ kind: 'decision' }).length, 1)
})

const LLM_POLICY = {
  version: 1,
  gates: { 'llm.call': { require: ['llm'], constraints: [{ id: 'budget', type: 'spend_limit', field: '/cost', max: 100, window: '1d' }] } },
}

/** An engine on LLM_POLICY, a passport with `llm`, and a guarded `complete({cost})` on `llm.call`
 * with a hold, whose result says it spent half (or which throws, with `fail`). */
function llmSetup(options, fail) {
  const issuer = Issuer.generate()
  const passport = issuer.issuePassport({ agentId: 'bot', permissions: ['llm'] })
  const engine = new Engine({ policy: LLM_POLICY, trustedIssuers: [issuer.did] })
  const runs = []
  const tool = guard(
    engine,
    'llm.call',
    async (args) => {
      runs.push(args)
      if (fail) throw new Error('the model provider is down')
      return { content: [{ type: 'text', text: 'ok' }], structuredContent: { spent: args.cost / 2 } }
    },
    { hold: true, ...options },
  )
  const used = () => engine.cumulativeState({ constraint: 'budget' })[0]?.used ?? '0'
  return { engine, passport, tool, runs, used }
}

/** The next PASSGATE_GUARD process warning. */
function nextWarning() {
  return new Promise((resolve) => {
    const on = (w) => {
      if (w.code !== 'PASSGATE_GUARD') return
      process.off('warning', on)
      resolve(w)
    }
    process.on('warning', on)
  })
}

for (const kind of ['sync', 'async']) {
  test(`guard: a hold is settled with the actual amounts (${kind} settle)`, async () => {
    const seen = []
    const settle = (result, args, ex) => {
      seen.push([result.structuredContent, args, ex.requestId])
      return { cost: result.structuredContent.spent }
    }
    const { engine, passport, tool, used } = llmSetup({ settle: kind === 'sync' ? settle : async (...a) => settle(...a) })
    const result = await tool({ cost: 40, passgate_idempotency_key: 'c1' }, extra(passport.token))
    assert.deepEqual(result.structuredContent, { spent: 20 })
    assert.equal(used(), '20') // reserved 40, settled at 20
    assert.equal(engine.attestations({ kind: 'hold.settled' }).length, 1)
    assert.deepEqual(seen, [[{ spent: 20 }, { cost: 40 }, 7]]) // the arguments, without the guard's
  })
}

test('guard: a hold without settle keeps the reserved amounts', async () => {
  const { engine, passport, tool, used } = llmSetup()
  assert.equal((await tool({ cost: 40 }, extra(passport.token))).isError, undefined)
  assert.equal(used(), '40')
  assert.equal(engine.attestations({ kind: 'hold.settled' }).length, 1)
})

test('guard: a handler that throws releases its hold, and the throw is the tool\'s', async () => {
  const { engine, passport, tool, used } = llmSetup({}, true)
  await assert.rejects(tool({ cost: 40 }, extra(passport.token)), /provider is down/)
  assert.equal(used(), '0')
  assert.equal(engine.attestations({ kind: 'hold.released' }).length, 1)
  assert.deepEqual(engine.attestations({ kind: 'hold.settled' }), [])
})

test('guard: a failed settle keeps the result and the reservation (settle throws)', async () => {
  const settle = () => {
    throw new TypeError('no spent field')
  }
  const { engine, passport, tool, used } = llmSetup({ settle })
  const warned = nextWarning()
  const result = await tool({ cost: 40 }, extra(passport.token))
  assert.deepEqual(result.structuredContent, { spent: 20 }) // the tool's result is the client's
  assert.equal(used(), '40') // the hold stays open: it expires at its reserved amounts
  assert.deepEqual(engine.attestations({ kind: 'hold.settled' }), [])
  assert.deepEqual(engine.attestations({ kind: 'hold.released' }), [])
  const w = await warned
  assert.match(w.message, /was not settled; it expires at its reserved amounts/)
  assert.match(w.detail, /TypeError: no spent field/)
})

test('guard: a settle past the cap is recorded with its overrun (the money is spent)', async () => {
  const { engine, passport, tool, used } = llmSetup({ settle: () => ({ cost: 1000 }) })
  const result = await tool({ cost: 40 }, extra(passport.token))
  assert.deepEqual(result.structuredContent, { spent: 20 })
  assert.equal(used(), '1000')
  const [settled] = engine.attestations({ kind: 'hold.settled' })
  assert.ok(settled.body.data.overrun.length > 0, JSON.stringify(settled.body.data))
})

test('guard: settle needs hold, hold and arguments are booleans', () => {
  const { engine } = setup()
  const h = () => ({ content: [] })
  assert.throws(() => guard(engine, 'pay', h, { settle: () => null }), /settle needs hold/)
  assert.throws(() => guard(engine, 'pay', h, { hold: 'yes' }), TypeError)
  assert.throws(() => guard(engine, 'pay', h, { hold: true, settle: 'x' }), TypeError)
  assert.throws(() => guard(engine, 'pay', h, { arguments: 0 }), TypeError)
})

// ---- the guard under stress ----------------------------------------------------------------------

for (const hold of [false, true]) {
  test(`guard: a client that cancels while the engine decides: the handler never starts, and that is recorded (hold: ${hold})`, async () => {
    const { engine, passport, runs, used } = llmSetup()
    const controller = new AbortController()
    // The abort lands while the decision is being made (the payload function runs just before).
    const tool = guard(engine, 'llm.call', async (args) => runs.push(args), {
      hold,
      payload: (args) => {
        controller.abort()
        return args
      },
    })
    await assert.rejects(tool({ cost: 30 }, { ...extra(passport.token), signal: controller.signal }), { name: 'AbortError' })
    assert.equal(runs.length, 0)
    const [decided] = engine.attestations({ kind: 'decision' })
    assert.equal(decided.body.decision, 'allow')
    if (hold) {
      assert.equal(used(), '0') // released
      assert.equal(engine.attestations({ kind: 'hold.released' }).length, 1)
      assert.deepEqual(engine.attestations({ kind: NOT_EXECUTED }), [])
    } else {
      assert.equal(used(), '30') // counted, and attested as not executed
      const [record] = engine.attestations({ kind: NOT_EXECUTED })
      assert.deepEqual(record.body.data, { evaluation_id: decided.body.evaluation_id, gate: 'llm.call', reason: 'cancelled' })
      assert.equal(passgate.verifyChain(engine.attestations(), engine.signerDid), true)
    }
  })
}

test('guard: generator functions are refused at registration', () => {
  const { engine } = setup()
  assert.throws(() => guard(engine, 'pay', async function* () { yield 1 }), /generator function/)
  assert.throws(() => guard(engine, 'pay', function* () { yield 1 }), /generator function/)
})

// ---- the same JSON and the same trace as the Python guard ------------------------------------------

test('guard: the exact keys of every refusal and of the trace (bindings-python/tests/test_mcp.py asserts the same)', async () => {
  const { engine, passport } = setup()
  const { tool } = counted(engine)
  const deny = errorJson(await tool({ amount: 900 }, extra(passport.token)))
  assert.deepEqual(Object.keys(deny), ['decision', 'gate', 'evaluation_id', 'checks'])
  assert.deepEqual(Object.keys(deny.checks[0]), ['constraint', 'type', 'passed', 'message', 'observed', 'limit'])
  const failure = errorJson(await tool({ amount: 1 }, withMeta(5, {})))
  assert.deepEqual(Object.keys(failure), ['error'])
  assert.deepEqual(Object.keys(failure.error), ['code', 'message'])
  const wire = setup(WIRE_POLICY)
  const escalate = errorJson(await counted(wire.engine, 'wire').tool({ amount: 500 }, extra(wire.passport.token)))
  assert.deepEqual(Object.keys(escalate), ['decision', 'gate', 'evaluation_id', 'checks', 'approval_request'])
  // The trace: the JSON-RPC id (a decimal string in the signed body) and the transport's session id.
  const [record] = engine.attestations({ kind: 'decision' })
  assert.deepEqual(record.body.trace, { mcp_request_id: '7', mcp_session_id: 'sess-1' })
  const { tool: stdio } = counted(engine)
  await stdio({ amount: 1 }, { requestId: 8, _meta: { [PASSPORT_META]: passport.token } }) // stdio: no session
  assert.deepEqual(engine.attestations({ kind: 'decision' }).at(-1).body.trace, { mcp_request_id: '8' })
})

test('withGuardArguments / guardArguments: the two optional arguments, for JSON Schema and zod hosts', () => {
  const schema = { type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'], additionalProperties: false }
  const out = withGuardArguments(schema)
  assert.deepEqual(Object.keys(out.properties), ['amount', 'passgate_approval', 'passgate_idempotency_key'])
  assert.deepEqual(out.required, ['amount'])
  assert.equal(out.additionalProperties, false)
  assert.deepEqual(schema.properties, { amount: { type: 'number' } }) // a new object
  const description = {
    passgate_approval:
      'Only when retrying a call that passgate escalated for approval: the approval token an operator granted for exactly that call (same arguments). Omit otherwise.',
    passgate_idempotency_key:
      "Optional: a key (1 to 256 characters) naming this call. A retry with the same key and arguments gets passgate's first decision instead of being counted again; an allowed call never runs twice under one key.",
  }
  for (const name of Object.keys(description)) assert.deepEqual(out.properties[name], { type: 'string', description: description[name] })
  assert.deepEqual(withGuardArguments().properties, withGuardArguments({ type: 'object' }).properties)
  assert.throws(() => withGuardArguments(out), /already has a property passgate_approval/)
  assert.throws(() => withGuardArguments({ type: 'array' }), TypeError)
  assert.throws(() => withGuardArguments(null), TypeError)
  // The zod shape, from the host's optional string schema (a structural stand-in for zod's here:
  // passgate has no zod). `describe` returns a described copy, as zod's does.
  const optional = (description) => ({ description, isOptional: () => true, describe: (d) => optional(d) })
  assert.deepEqual(JSON.parse(JSON.stringify(guardArguments(optional()))), {
    passgate_approval: { description: description.passgate_approval },
    passgate_idempotency_key: { description: description.passgate_idempotency_key },
  })
  assert.throws(() => guardArguments({ describe: () => ({}), isOptional: () => false }), /must be optional/)
  assert.throws(() => guardArguments({}), TypeError)
})
