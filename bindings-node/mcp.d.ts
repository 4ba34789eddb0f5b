// passgate/mcp: passgate for MCP servers. Plain JS, no dependency on any MCP SDK: it returns plain
// MCP result objects, which the official SDK (`@modelcontextprotocol/sdk`) sends as they are.
import type { Check, Engine, Issuer, JsonObject, JsonValue, McpTool, Payload, Verdict } from './index'
import type { ErrorCode } from './errors'

export type { McpTool } from './index'

/** The `_meta` key a client puts the agent's passport under: `"passgate/passport"`. */
export declare const PASSPORT_META: 'passgate/passport'
/** The `_meta` key a client puts an approval token under (from `engine.approve`). */
export declare const APPROVAL_META: 'passgate/approval'
/** The `_meta` key a client puts an idempotency key under. */
export declare const IDEMPOTENCY_META: 'passgate/idempotency_key'
/** The optional tool argument the guard reads an approval token from (clients without `_meta`). */
export declare const APPROVAL_ARGUMENT: 'passgate_approval'
/** The optional tool argument the guard reads an idempotency key from (clients without `_meta`). */
export declare const IDEMPOTENCY_ARGUMENT: 'passgate_idempotency_key'
/** The attestation kind the guard records for an allowed call whose handler never started (no hold). */
export declare const NOT_EXECUTED: 'guard.not_executed'

/** Which tools a caller sees and may call: the governed agent, or the operator (every tool). */
export type McpRole = 'agent' | 'operator'

/**
 * passgate's own MCP tools for a role: `'agent'` (the default) lists `enforce_action`,
 * `authorize_dry_run`, `verify_passport`, `list_allowed_gates`, `list_my_evaluations`;
 * `'operator'` lists every tool (passports, policy, counters, holds, approvals, attestations).
 */
export declare function tools(role?: McpRole): McpTool[]

/** Options of `handle` / `handleAsync`: who is calling, as the host's transport established it. */
export interface HandleOptions {
  /** `'agent'` (the default) or `'operator'`. Never serve `'operator'` on the agent's connection. */
  role?: McpRole
  /** Agent: the passport this connection was given (server config, HTTP bearer), used when a call gives none. */
  passport?: string | null
  /** Agent: the host's key for an anonymous caller (e.g. its address); an agent may not pass `client` itself. */
  client?: string | null
  /** Operator: its name, recorded as the approver of what it approves (default `'operator'`). */
  operator?: string | null
  /** The issuer (or its secret) the operator's `issue_passport` signs with; without one that tool answers with an error result. */
  issuer?: Issuer | string | null
}

/** A JSON-RPC 2.0 message as an object (JSON data: it is sent through `JSON.stringify`). */
export type JsonRpcMessage = { [key: string]: unknown }

/** A JSON-RPC 2.0 response: `result` or `error`. */
export interface JsonRpcResponse {
  jsonrpc: '2.0'
  id: string | number | null
  /** For `tools/call`: the tool result (`content`, `structuredContent`, `isError`). */
  result?: JsonObject
  /** A protocol fault (`-32600` for a batch, `-32601` unknown method, `-32602` unknown tool). */
  error?: { code: number; message: string; data?: JsonValue }
}

/**
 * passgate's transport-free JSON-RPC 2.0 handler (`initialize`, `notifications/initialized`,
 * `ping`, `tools/list`, `tools/call` on passgate's tools, as the caller's role may see and call
 * them): mount it on any transport. A string in gives a string out (parsed by passgate's strict
 * parser: duplicate keys, oversized or too-deep input are a JSON-RPC parse error); an object in
 * gives an object out. `null` when there is nothing to answer (a notification, a response). A
 * batch (array) is refused with `-32600`. Protocol faults (unknown method or tool) are JSON-RPC
 * errors; `enforce_action` answers allow, deny and escalate as a normal result; `isError: true`
 * marks a call with no answer: arguments that fail the schema (`INVALID_ARGUMENT`, with the JSON
 * path), an operator tool called as the agent (`FORBIDDEN`), an engine error.
 */
export declare function handle(engine: Engine, message: string, options?: HandleOptions): string | null
export declare function handle(engine: Engine, message: JsonRpcMessage, options?: HandleOptions): JsonRpcResponse | null
/** `handle` on the libuv pool, so the event loop is free while the store works. */
export declare function handleAsync(engine: Engine, message: string, options?: HandleOptions): Promise<string | null>
export declare function handleAsync(engine: Engine, message: JsonRpcMessage, options?: HandleOptions): Promise<JsonRpcResponse | null>

/**
 * What `guard` reads from the SDK's `extra` (the second argument of a `registerTool` callback,
 * `RequestHandlerExtra`): the request's `_meta`, its ids for the attestation's `trace`, and its
 * abort signal.
 */
export interface GuardExtra {
  /**
   * The `tools/call` request's `params._meta`: the passport under `"passgate/passport"`, an
   * approval token under `"passgate/approval"`, an idempotency key under `"passgate/idempotency_key"`.
   */
  _meta?: { [key: string]: unknown } | undefined
  requestId?: string | number
  sessionId?: string | undefined
  /** Aborted when the client cancels: a call cancelled while the engine decided does not run. */
  signal?: AbortSignal
}

/** Options of `guard`. */
export interface GuardOptions<A, E, R = unknown> {
  /** The payload to enforce (default: the tool's arguments, `args`, minus the guard's own). May be async; a throw is an error result. */
  payload?: (args: A, extra: E) => Payload | Promise<Payload>
  /**
   * The passport token (default: `extra._meta["passgate/passport"]`), e.g. from the host's session.
   * May be async; `undefined` / `null` is an anonymous call; a throw is an error result.
   */
  passport?: (args: A, extra: E) => string | null | undefined | Promise<string | null | undefined>
  /**
   * Enforce with a hold (default false): the decision reserves the amounts; when the handler
   * returns, the hold is settled (with `settle`'s amounts); when it throws, or the call is
   * cancelled before it starts, the hold is released.
   */
  hold?: boolean
  /**
   * With `hold: true`: the actual amounts, payload-shaped (`{amount: 42}`), from the handler's
   * result and the tool's arguments. May be async. `undefined` / `null` (or no `settle`) keeps the
   * reserved amounts. A throw, or a settlement the engine refuses, never costs the tool its
   * result: the result is returned, a process warning (`PASSGATE_GUARD`) emitted, and the hold
   * left open — it expires at its reserved amounts.
   */
  settle?: (result: R, args: A, extra: E) => JsonObject | null | undefined | Promise<JsonObject | null | undefined>
  /**
   * Read the approval token and idempotency key from the tool arguments `passgate_approval` /
   * `passgate_idempotency_key` too (default true), for clients that send no `_meta` (Claude
   * Desktop, Cursor). The host declares them in the tool's inputSchema (`guardArguments(z.string().optional())`,
   * `withGuardArguments(schema)`); the guard removes them from the arguments before the payload
   * is built and the handler called. `false`: `_meta` only (the arguments are left as they are).
   */
  arguments?: boolean
}
/** The failed-check entries of a refusal: the decision's checks (keys as in `Check`). */
export type FailedCheck = Check & { passed: false }

/**
 * The JSON text of a refused call (deny or escalate). Keys are snake_case, as the decision's wire
 * JSON, and identical to what Python's `passgate.mcp.guard` produces.
 *
 * ```json
 * {"decision": "deny", "gate": "payments.send", "evaluation_id": "evl_…",
 *  "checks": [{"constraint": "daily-spend", "type": "spend_limit", "passed": false,
 *              "message": "…", "observed": "1100", "limit": "1000", "max_admissible": "100"}]}
 * ```
 * `checks` holds only the FAILED checks (a passport failure is the `passport` check, with its
 * `code`: `PASSPORT_MISSING`, `PASSPORT_REVOKED`, …); `approval_request` is present only on
 * `escalate`.
 */
export interface GuardRefusal {
  decision: Exclude<Verdict, 'allow'>
  gate: string
  evaluation_id: string
  checks: FailedCheck[]
  approval_request?: JsonObject | null
}

/**
 * The JSON text of a call that could not be decided: anything thrown while deciding (a store
 * failure `STORE_UNAVAILABLE`, a malformed or oversized payload `PAYLOAD_INVALID` /
 * `LIMIT_EXCEEDED`, a passport, approval or idempotency key that is not a string, or an approval
 * given both in `_meta` and as an argument with different values, `INVALID_ARGUMENT`, …), with
 * passgate's error code and message — or a replayed allow, `IDEMPOTENCY_CONFLICT` (a key runs
 * the tool at most once). Any error passgate did not make itself (a `payload` / `passport`
 * function that throws — even an `Error` whose `.code` looks like passgate's) is `INTERNAL`,
 * whose message names only the error's type (`"the guard failed before a decision
 * (TypeError)"`), never its text.
 */
export interface GuardFailure {
  error: { code: ErrorCode; message: string }
}

/**
 * The MCP tool error result `guard` returns instead of running the handler: one text item holding
 * the JSON of a `GuardRefusal` or a `GuardFailure`. (A type, not an interface, so that it is
 * assignable to the SDK's `CallToolResult`, which has an index signature.)
 */
export type GuardErrorResult = {
  content: [{ type: 'text'; text: string }]
  isError: true
}

/**
 * Puts an MCP tool callback behind a gate. For `McpServer.registerTool(name, config, callback)`:
 *
 * ```js
 * server.registerTool('send_payment', { inputSchema: { amount: z.number(), to: z.string(), ...guardArguments(z.string().optional()) } },
 *   guard(engine, 'payments.send', async ({ amount, to }) => ({ content: [{ type: 'text', text: `sent ${amount} to ${to}` }] })))
 * ```
 *
 * Each call enforces (`engine.enforceAsync`, off the event loop) with the passport from the
 * request's `_meta["passgate/passport"]` (or `options.passport(args, extra)`), the tool's
 * arguments as the payload (or `options.payload(args, extra)`), the approval token and the
 * idempotency key from `_meta["passgate/approval"]` / `_meta["passgate/idempotency_key"]` or the
 * arguments `passgate_approval` / `passgate_idempotency_key` (removed from the arguments first;
 * `''` is absent; both ways with different values is `INVALID_ARGUMENT`), and the MCP ids as the
 * attestation's `trace` (`{mcp_request_id, mcp_session_id}`). The handler runs only when the
 * decision is `allow` and not a replay; it is then called as the SDK called the guard (the
 * arguments without the guard's two), and its result (or throw) is the tool's. A replayed
 * decision never runs it again: a replayed deny or escalation is refused as it was, a replayed
 * allow is `IDEMPOTENCY_CONFLICT`. On anything else — a deny, an escalation, any error thrown
 * while deciding — the handler never runs and the call answers `{content: [{type: 'text', text}],
 * isError: true}` with `text` the JSON of a `GuardRefusal` or a `GuardFailure`.
 *
 * With `hold: true`, see `GuardOptions.hold` / `settle`. A call whose `extra.signal` was aborted
 * while the engine decided does not run the handler: the hold is released, or (without a hold)
 * an attestation of kind `guard.not_executed` (`{evaluation_id, gate, reason: 'cancelled'}`)
 * records that the allowed call did not happen; the guard then throws the signal's reason.
 * A generator function as handler is refused (`TypeError`): its body would run after the guard.
 *
 * Arguments the tool's schema refuses: McpServer validates them with zod before it calls the
 * callback, so they never reach the guard (the SDK's own error text, no decision, no
 * attestation). Python's guard answers a value of the wrong type with `INVALID_ARGUMENT` JSON
 * instead (its SDK's pydantic validation can be wrapped per parameter); a missing required
 * argument is the SDK's own error in both.
 *
 * (A tool registered without an `inputSchema` is called as `callback(extra)`: the guard then
 * enforces with an empty payload and calls `handler(extra)`.)
 */
export declare function guard<A, E extends GuardExtra | undefined, R>(
  engine: Engine,
  gate: string,
  handler: (args: A, extra: E) => R | Promise<R>,
  options?: GuardOptions<A, E, Awaited<R>>,
): (args: A, extra: E) => Promise<R | GuardErrorResult>

/** A JSON Schema of an optional string argument (what `withGuardArguments` adds). */
export interface GuardArgumentSchema {
  type: 'string'
  description: string
}

/**
 * `inputSchema` (a JSON Schema of an object; default `{type: 'object', properties: {}}`) with the
 * guard's two optional arguments added: `passgate_approval` and `passgate_idempotency_key`, each
 * `{type: 'string', description}`, not required. For hosts that declare JSON Schema (the SDK's
 * low-level `Server`). Throws `TypeError` if the schema is not an object's or already has them.
 */
export declare function withGuardArguments<S extends { [key: string]: unknown }>(
  inputSchema?: S,
): Omit<S, 'type' | 'properties'> & {
  type: 'object'
  properties: { [key: string]: unknown } & { passgate_approval: GuardArgumentSchema; passgate_idempotency_key: GuardArgumentSchema }
}

/** What `guardArguments` takes: an optional string schema of the host's zod (`z.string().optional()`). */
export interface OptionalStringSchema {
  describe(description: string): this
  isOptional?(): boolean
}

/**
 * The guard's two optional arguments as a zod raw shape, for `McpServer.registerTool`: spread it
 * into the tool's `inputSchema`, `{ amount: z.number(), ...guardArguments(z.string().optional()) }`
 * (McpServer's zod drops the keys a schema does not declare before the callback runs). Each
 * argument is `optionalString` described for the model. passgate does not depend on zod.
 */
export declare function guardArguments<S extends OptionalStringSchema>(
  optionalString: S,
): { passgate_approval: S; passgate_idempotency_key: S }
