'use strict'
// passgate/mcp (CommonJS entry): passgate for MCP servers, with no dependency on any MCP SDK.
//
// - tools(role): passgate's own tools for a role ('agent' by default, or 'operator').
// - handle(engine, message, {role, passport, client, operator, issuer}) / handleAsync(...): the
//   core's transport-free JSON-RPC 2.0 handler (initialize, ping, tools/list, tools/call), to
//   mount on any transport. The agent role sees the agent tools only; never serve the operator
//   role on the agent's connection.
// - guard(engine, gate, handler, {payload, passport, hold, settle, arguments}): puts a tool
//   callback of the official SDK (`McpServer.registerTool(name, config, callback)`, called as
//   `callback(args, extra)`) behind a gate. The callback runs only on an `allow`; anything else is
//   an MCP error result (mcp.d.ts has the contract). Python's `passgate.mcp.guard` behaves the
//   same and answers the same JSON.
// - withGuardArguments(inputSchema) / guardArguments(z.string().optional()): the two optional
//   arguments the guard
//   reads (an approval token, an idempotency key), for clients that send no `_meta`.

const passgate = require('./passgate.js')

/** The `_meta` key a client puts its passport under (`tools/call` params `_meta`). */
const PASSPORT_META = 'passgate/passport'
/** The `_meta` key a client puts an approval token under (from `engine.approve`). */
const APPROVAL_META = 'passgate/approval'
/** The `_meta` key a client puts an idempotency key under. */
const IDEMPOTENCY_META = 'passgate/idempotency_key'
/** The optional tool argument for an approval token (clients that send no `_meta`). */
const APPROVAL_ARGUMENT = 'passgate_approval'
/** The optional tool argument for an idempotency key (clients that send no `_meta`). */
const IDEMPOTENCY_ARGUMENT = 'passgate_idempotency_key'
/** The attestation kind recorded for an allowed call whose handler never started (no hold). */
const NOT_EXECUTED = 'guard.not_executed'

/** What the model reads about the two arguments (Python's guard uses the same text). */
const DESCRIPTIONS = {
  [APPROVAL_ARGUMENT]:
    'Only when retrying a call that passgate escalated for approval: the approval token an ' +
    'operator granted for exactly that call (same arguments). Omit otherwise.',
  [IDEMPOTENCY_ARGUMENT]:
    'Optional: a key (1 to 256 characters) naming this call. A retry with the same key and ' +
    "arguments gets passgate's first decision instead of being counted again; an allowed call " +
    'never runs twice under one key.',
}

/** Errors passgate made (its classes, its native calls): only these may show their message. */
const ownError = passgate[Symbol.for('passgate.ownError')]

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

// The guard's JSON — its inputs, the trace, refusals, replays and errors — is built by the core
// (`passgate::mcp::guard`), as in Python: this file keeps only the SDK glue.

/**
 * The error JSON of anything thrown: the code and message of an error passgate made, or
 * `INTERNAL` for any other error — even one whose `.code` looks like passgate's — whose message
 * names only its type (a host error's text may hold what a client must not see).
 */
function failure(err) {
  if (ownError(err) && passgate.isPassgateError(err)) {
    return passgate.mcpGuard('error', { code: err.code, message: err.message, path: err.path ?? null })
  }
  const type = err instanceof Error ? err.name : err === null ? 'null' : typeof err
  return passgate.mcpGuard('internal', { type })
}

/** The `passgate/*` keys of a request's `_meta` (the only ones the guard reads). */
function metaOf(extra) {
  const meta = extra?._meta
  if (meta === null || typeof meta !== 'object') return undefined
  const out = {}
  for (const key of [PASSPORT_META, APPROVAL_META, IDEMPOTENCY_META]) {
    if (meta[key] !== undefined) out[key] = meta[key]
  }
  return out
}

/** Warns (process warnings: stderr by default) about a hold or record the guard could not write. */
function warn(message, err) {
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  process.emitWarning(message, { code: 'PASSGATE_GUARD', detail })
}

/**
 * The handler threw or never started: release the hold (the action did not happen, or failed);
 * without one, attest that an allowed call never started. Never throws.
 */
function notRun(engine, gate, decision, holdId, started, reason) {
  try {
    if (holdId !== undefined) {
      engine.release(holdId)
    } else if (!started) {
      engine.recordAttestation(NOT_EXECUTED, { evaluation_id: decision.evaluationId, gate, reason })
    }
  } catch (err) {
    warn(`passgate/mcp guard: evaluation ${decision.evaluationId} of ${gate} was allowed but its handler did not complete, and the guard could not record it (hold ${holdId ?? 'none'})`, err)
  }
}

const GENERATORS = new Set(['GeneratorFunction', 'AsyncGeneratorFunction'])

/**
 * Wraps a tool callback so that it runs only when `engine` allows the call at `gate`. See
 * mcp.d.ts for the contract and the error results.
 */
function guard(engine, gate, handler, options) {
  if (!(engine instanceof passgate.Engine)) throw new TypeError('guard: engine must be a passgate Engine')
  if (typeof gate !== 'string' || gate.length === 0) throw new TypeError('guard: gate must be a non-empty string')
  if (typeof handler !== 'function') throw new TypeError('guard: handler must be a function')
  if (GENERATORS.has(handler.constructor?.name)) {
    throw new TypeError('guard: handler is a generator function: an MCP tool answers once, and the guard must know whether (and when) its body ran; return the result instead')
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new TypeError('guard: options must be an object')
  }
  const { payload, passport, hold = false, settle, arguments: argumentRoute = true } = options ?? {}
  for (const [name, f] of [['payload', payload], ['passport', passport], ['settle', settle]]) {
    if (f !== undefined && typeof f !== 'function') throw new TypeError(`guard: ${name} must be a function`)
  }
  for (const [name, b] of [['hold', hold], ['arguments', argumentRoute]]) {
    if (typeof b !== 'boolean') throw new TypeError(`guard: ${name} must be a boolean`)
  }
  if (settle !== undefined && !hold) throw new TypeError('guard: settle needs hold: true')

  /** Settles the hold with the handler's actual amounts; a failure leaves it open (it expires at its
   * reserved amounts: the safe direction) and is a process warning, never a throw. */
  async function settled(decision, holdId, result, args, extra) {
    try {
      const actual = settle !== undefined ? await settle(result, args, extra) : undefined
      engine.settle(holdId, actual ?? undefined)
    } catch (err) {
      warn(`passgate/mcp guard: hold ${holdId} of evaluation ${decision.evaluationId} (${gate}) was not settled; it expires at its reserved amounts`, err)
    }
  }

  return async function guarded(...call) {
    // McpServer calls `callback(args, extra)` for a tool with an inputSchema, `callback(extra)`
    // for one without.
    const withArgs = call.length >= 2
    const [args, extra] = withArgs ? call : [{}, call[0]]
    let toolArgs = args
    let decision
    let key
    try {
      let given = {}
      if (argumentRoute && withArgs && args !== null && typeof args === 'object' &&
        (Object.hasOwn(args, APPROVAL_ARGUMENT) || Object.hasOwn(args, IDEMPOTENCY_ARGUMENT))) {
        const { [APPROVAL_ARGUMENT]: approval, [IDEMPOTENCY_ARGUMENT]: idempotencyKey, ...rest } = args
        given = { approval, idempotencyKey }
        toolArgs = rest
      }
      // A passport callback's result (`null` for none: anonymous), or `undefined`: read `_meta`.
      const fromCallback = passport !== undefined ? ((await passport(toolArgs, extra)) ?? null) : undefined
      const asked = { meta: metaOf(extra), approval: given.approval, idempotency_key: given.idempotencyKey }
      if (fromCallback !== undefined) asked.passport = fromCallback
      const inputs = passgate.mcpGuard('inputs', asked)
      // A refused input (not a string, or given twice differently) is answered with its error.
      if (inputs.error !== undefined) return errorResult(inputs)
      key = inputs.idempotency_key ?? undefined
      const request = {
        gate,
        passport: inputs.passport ?? undefined,
        payload: payload !== undefined ? await payload(toolArgs, extra) : toolArgs,
        trace: passgate.mcpGuard('trace', { request_id: extra?.requestId, session_id: extra?.sessionId }) ?? undefined,
      }
      if (inputs.approval !== null) request.approval = inputs.approval
      if (key !== undefined) request.idempotencyKey = key
      if (hold) request.hold = true
      decision = await engine.enforceAsync(request)
    } catch (err) {
      return errorResult(failure(err))
    }
    // A deny or escalation is refused; a replayed allow (the first call with this key was
    // admitted, counted, and ran or started then) is an IDEMPOTENCY_CONFLICT.
    // The decision's fields the guard reads, under their wire names.
    const wire = {
      decision: decision.decision,
      allowed: decision.allowed,
      replayed: decision.replayed,
      gate: decision.gate,
      evaluation_id: decision.evaluationId,
      checks: decision.checks,
      approval_request: decision.approvalRequest,
    }
    const refused = passgate.mcpGuard('outcome', { decision: wire, idempotency_key: key })
    if (refused !== null) return errorResult(refused)

    const holdId = hold ? (decision.holdId ?? undefined) : undefined
    const signal = extra?.signal
    if (signal?.aborted) {
      // The client cancelled while the engine decided: the handler does not start.
      notRun(engine, gate, decision, holdId, false, 'cancelled')
      throw signal.reason ?? new Error('the call was cancelled')
    }
    let result
    try {
      result = await (withArgs ? handler(toolArgs, ...call.slice(1)) : handler(...call))
    } catch (err) {
      notRun(engine, gate, decision, holdId, true, 'error')
      throw err
    }
    if (holdId !== undefined) await settled(decision, holdId, result, toolArgs, extra)
    return result
  }
}

/** The JSON Schemas of the guard's two optional arguments. */
function argumentSchemas() {
  return {
    [APPROVAL_ARGUMENT]: { type: 'string', description: DESCRIPTIONS[APPROVAL_ARGUMENT] },
    [IDEMPOTENCY_ARGUMENT]: { type: 'string', description: DESCRIPTIONS[IDEMPOTENCY_ARGUMENT] },
  }
}

/**
 * A tool's JSON Schema `inputSchema` with the guard's two optional arguments added (for hosts
 * that declare JSON Schema: the low-level `Server`, or any transport). A new object; the
 * properties are not required.
 */
function withGuardArguments(inputSchema = { type: 'object', properties: {} }) {
  if (inputSchema === null || typeof inputSchema !== 'object' || Array.isArray(inputSchema)) {
    throw new TypeError('withGuardArguments: inputSchema must be a JSON Schema object')
  }
  if (inputSchema.type !== undefined && inputSchema.type !== 'object') {
    throw new TypeError('withGuardArguments: inputSchema must describe an object ("type": "object")')
  }
  const properties = inputSchema.properties ?? {}
  if (properties === null || typeof properties !== 'object' || Array.isArray(properties)) {
    throw new TypeError('withGuardArguments: inputSchema.properties must be an object')
  }
  for (const name of [APPROVAL_ARGUMENT, IDEMPOTENCY_ARGUMENT]) {
    if (Object.hasOwn(properties, name)) throw new TypeError(`withGuardArguments: inputSchema already has a property ${name}`)
  }
  return { ...inputSchema, type: 'object', properties: { ...properties, ...argumentSchemas() } }
}

/**
 * The guard's two optional arguments as a zod raw shape, for `McpServer.registerTool`'s
 * `inputSchema` (zod drops the keys a schema does not declare before the callback runs): spread
 * it into the tool's shape, `{ amount: z.number(), ...guardArguments(z.string().optional()) }`.
 * `optionalString` is an optional string schema of the host's own zod (3 or 4; passgate does not
 * depend on zod); each argument is it with its description (`.describe`).
 */
function guardArguments(optionalString) {
  if (optionalString === null || typeof optionalString !== 'object' || typeof optionalString.describe !== 'function') {
    throw new TypeError("guardArguments: pass an optional string schema of the host's zod: guardArguments(z.string().optional())")
  }
  if (typeof optionalString.isOptional === 'function' && !optionalString.isOptional()) {
    throw new TypeError('guardArguments: the schema must be optional (z.string().optional()): the arguments are')
  }
  return {
    [APPROVAL_ARGUMENT]: optionalString.describe(DESCRIPTIONS[APPROVAL_ARGUMENT]),
    [IDEMPOTENCY_ARGUMENT]: optionalString.describe(DESCRIPTIONS[IDEMPOTENCY_ARGUMENT]),
  }
}

module.exports = {
  tools,
  handle,
  handleAsync,
  guard,
  withGuardArguments,
  guardArguments,
  PASSPORT_META,
  APPROVAL_META,
  IDEMPOTENCY_META,
  APPROVAL_ARGUMENT,
  IDEMPOTENCY_ARGUMENT,
  NOT_EXECUTED,
}
