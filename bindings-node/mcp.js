'use strict'
// passgate/mcp (CommonJS entry): passgate for MCP servers, with no dependency on any MCP SDK.
//
// - tools(role): passgate's own tools for a role ('agent' by default, or 'operator').
// - handle(engine, message, {role, passport, client, operator, issuer}) / handleAsync(...): the
//   core's transport-free JSON-RPC 2.0 handler (initialize, ping, tools/list, tools/call), to
//   mount on any transport. The agent role sees the agent tools only; never serve the operator
//   role on the agent's connection.
// - guard(engine, gate, handler, {payload, passport}): puts a tool callback of the official SDK
//   (`McpServer.registerTool(name, config, callback)`, called as `callback(args, extra)`) behind a
//   gate. The callback runs only on an `allow`; anything else is an MCP error result (below).

const passgate = require('./passgate.js')

/** The `_meta` key a client puts its passport under (`tools/call` params `_meta`). */
const PASSPORT_META = 'passgate/passport'

/** passgate's own MCP tools for a role: `'agent'` (the default) or `'operator'` (every tool). */
function tools(role) {
  return passgate.mcpTools(role)
}

/** The issuer and the caller of `handle`'s options. */
function optionsOf(options, what) {
  if (options === undefined || options === null) return [undefined, undefined]
  if (typeof options !== 'object') throw new TypeError(`${what}: options must be an object`)
  const { issuer, role, passport, client, operator } = options
  return [issuer, { role, passport, client, operator }]
}

/**
 * Answers one JSON-RPC message as `options.role` (`'agent'` by default, with the connection's
 * `passport` / `client`; or `'operator'`, named `operator`): a string in, a string out; an object
 * (JSON data) in, an object out. `null` when there is nothing to answer (a notification).
 */
function handle(engine, message, options) {
  const [issuer, caller] = optionsOf(options, 'handle')
  if (typeof message === 'string') return passgate.mcpHandle(engine, message, issuer, caller)
  const reply = passgate.mcpHandle(engine, JSON.stringify(message), issuer, caller)
  return reply === null ? null : JSON.parse(reply)
}

/** `handle` off the event loop (the libuv pool): a `tools/call` may wait on the store. */
async function handleAsync(engine, message, options) {
  const [issuer, caller] = optionsOf(options, 'handleAsync')
  if (typeof message === 'string') return passgate.mcpHandleAsync(engine, message, issuer, caller)
  const reply = await passgate.mcpHandleAsync(engine, JSON.stringify(message), issuer, caller)
  return reply === null ? null : JSON.parse(reply)
}

/** An MCP tool error result whose one text item is `value` as JSON. */
function errorResult(value) {
  return { content: [{ type: 'text', text: JSON.stringify(value) }], isError: true }
}

/** The refusal JSON of a deny / escalate (snake_case keys, as the decision's wire JSON). */
function refusal(d) {
  const out = {
    decision: d.decision,
    gate: d.gate,
    evaluation_id: d.evaluationId,
    checks: d.checks.filter((c) => !c.passed),
  }
  if (d.approvalRequest !== null && d.approvalRequest !== undefined) out.approval_request = d.approvalRequest
  return out
}

/**
 * The error JSON of anything thrown: passgate's code and message, or `INTERNAL` for any other
 * error, whose message names only its type (a host error's text may hold what a client must not see).
 */
function failure(err) {
  if (passgate.isPassgateError(err)) return { error: { code: err.code, message: err.message } }
  const type = err instanceof Error ? err.name : err === null ? 'null' : typeof err
  return { error: { code: 'INTERNAL', message: `the guard failed before a decision (${type})` } }
}

/** What the attestation records of the MCP call (not part of the request's fingerprint). */
function traceOf(extra) {
  const trace = {}
  const id = extra?.requestId
  if (typeof id === 'string' || typeof id === 'number') trace.mcp_request_id = id
  if (typeof extra?.sessionId === 'string') trace.mcp_session_id = extra.sessionId
  return Object.keys(trace).length > 0 ? trace : undefined
}

/**
 * Wraps a tool callback so that it runs only when `engine` allows the call at `gate`. See
 * mcp.d.ts for the contract and the error results.
 */
function guard(engine, gate, handler, options) {
  if (!(engine instanceof passgate.Engine)) throw new TypeError('guard: engine must be a passgate Engine')
  if (typeof gate !== 'string' || gate.length === 0) throw new TypeError('guard: gate must be a non-empty string')
  if (typeof handler !== 'function') throw new TypeError('guard: handler must be a function')
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError('guard: options must be an object')
  }
  const { payload, passport } = options ?? {}
  for (const [name, f] of [['payload', payload], ['passport', passport]]) {
    if (f !== undefined && typeof f !== 'function') throw new TypeError(`guard: ${name} must be a function`)
  }

  return async function guarded(...call) {
    // McpServer calls `callback(args, extra)` for a tool with an inputSchema, `callback(extra)`
    // for one without.
    const [args, extra] = call.length >= 2 ? call : [{}, call[0]]
    let decision
    try {
      let token
      if (passport !== undefined) {
        token = await passport(args, extra)
      } else {
        token = extra?._meta?.[PASSPORT_META]
      }
      if (token !== undefined && token !== null && typeof token !== 'string') {
        throw new passgate.InputError(`the passport (_meta["${PASSPORT_META}"]) must be a string`, 'INVALID_ARGUMENT')
      }
      const request = {
        gate,
        passport: token ?? undefined,
        payload: payload !== undefined ? await payload(args, extra) : args,
        trace: traceOf(extra),
      }
      decision = await engine.enforceAsync(request)
    } catch (err) {
      return errorResult(failure(err))
    }
    if (decision.decision !== 'allow' || decision.allowed !== true) return errorResult(refusal(decision))
    return handler(...call)
  }
}

module.exports = { tools, handle, handleAsync, guard, PASSPORT_META }
