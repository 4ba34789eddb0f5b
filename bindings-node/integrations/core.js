'use strict'
// passgate/integrations (shared by the ai-sdk and langchain entries): the framework-independent
// guard, tool filtering for planning, and OpenTelemetry (optional). No framework is imported here;
// `@opentelemetry/api` is required lazily, only if installed.
//
// The guard, call by call (Python's passgate.integrations does the same, with the same JSON):
// the passport comes from `passport` — the token itself, or a function of the framework's call
// context returning it (may be async); the payload is the tool's input (or `payload(input)`); the
// body runs only on `allow`; a deny, an escalation or an error before a decision is a refusal
// whose text (JSON) the model reads; with `hold: true` the body's result settles the hold
// (`settle(result, input)` gives the actual amounts) and a throw releases it.

const passgate = require('../passgate.js')

const ownError = passgate[Symbol.for('passgate.ownError')]
/** The property a wrapped tool carries its gate under (also readable as `tool.passgateGate`). */
const GATE_PROPERTY = 'passgateGate'
// Checks every call fails whatever its arguments: a dry run without arguments that fails one of
// these means the gate cannot be called now.
const ARGUMENT_FREE = new Set(['passport', 'permissions', 'gate', 'rate_limit', 'quota', 'concurrency', 'time_window'])

/** A call the guard did not run: `text` (JSON) is what the model reads. */
class Refused extends Error {
  constructor(refusal, decision) {
    const text = JSON.stringify(refusal)
    super(text)
    this.name = 'PassgateRefused'
    this.refusal = refusal
    this.decision = decision ?? null
    this.text = text
  }

  get escalated() {
    return this.decision !== null && this.decision.decision === 'escalate'
  }
}

function failure(err) {
  if (ownError(err) && passgate.isPassgateError(err)) {
    return passgate.mcpGuard('error', { code: err.code, message: err.message, path: err.path ?? null })
  }
  const type = err instanceof Error ? err.name : err === null ? 'null' : typeof err
  return passgate.mcpGuard('internal', { type })
}

function outcome(decision) {
  const wire = {
    decision: decision.decision,
    allowed: decision.allowed,
    replayed: decision.replayed,
    gate: decision.gate,
    evaluation_id: decision.evaluationId,
    checks: decision.checks,
    approval_request: decision.approvalRequest,
  }
  return passgate.mcpGuard('outcome', { decision: wire, idempotency_key: undefined })
}

// ---- OpenTelemetry ----------------------------------------------------------------------------

let otel
/** The API's tracer and instruments, or null when `@opentelemetry/api` is not installed. */
function telemetry() {
  if (otel !== undefined) return otel
  let api
  try {
    api = require('@opentelemetry/api')
  } catch {
    otel = null
    return otel
  }
  const meter = api.metrics.getMeter('passgate')
  otel = {
    api,
    tracer: api.trace.getTracer('passgate'),
    decisions: meter.createCounter('passgate.decisions', { unit: '{decision}', description: 'passgate decisions, by gate and verdict' }),
    duration: meter.createHistogram('passgate.enforce.duration', { unit: 'ms', description: 'time to decide one passgate request' }),
  }
  return otel
}

function record(o, span, gate, decision, ms, err) {
  const verdict = decision ? decision.decision : 'error'
  const attrs = { 'passgate.gate': gate, 'passgate.decision': verdict }
  o.decisions.add(1, attrs)
  o.duration.record(ms, attrs)
  if (!span.isRecording()) return
  span.setAttributes({ ...attrs, 'passgate.latency_ms': ms })
  if (decision) {
    span.setAttribute('passgate.evaluation_id', decision.evaluationId)
    span.setAttribute('passgate.failed_checks', decision.checks.filter((c) => !c.passed).map((c) => String(c.constraint)))
    if (decision.holdId) span.setAttribute('passgate.hold_id', decision.holdId)
  }
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : String(err))
    if (typeof err?.code === 'string') span.setAttribute('passgate.error_code', err.code)
    span.setStatus({ code: o.api.SpanStatusCode.ERROR, message: err instanceof Error ? err.name : typeof err })
  }
}

/**
 * `engine.enforceAsync(request)` inside a `passgate.enforce` span (attributes `passgate.gate`,
 * `passgate.decision`, `passgate.evaluation_id`, `passgate.failed_checks`, `passgate.latency_ms`),
 * counted in the `passgate.decisions` counter and the `passgate.enforce.duration` histogram. Without
 * `@opentelemetry/api`, or with no provider registered (the API's no-op tracer), it costs nothing more.
 */
async function enforceTraced(engine, request) {
  const o = telemetry()
  if (o === null) return engine.enforceAsync(request)
  return o.tracer.startActiveSpan('passgate.enforce', async (span) => {
    const start = performance.now()
    try {
      const decision = await engine.enforceAsync(request)
      record(o, span, request.gate, decision, performance.now() - start, undefined)
      return decision
    } catch (err) {
      record(o, span, request.gate, null, performance.now() - start, err)
      throw err
    } finally {
      span.end()
    }
  })
}

// ---- the guard --------------------------------------------------------------------------------

function warn(message, err) {
  const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err)
  process.emitWarning(message, { code: 'PASSGATE_INTEGRATION', detail })
}

/** The framework-independent guard of a tool at `gate` (see the file's head). */
function makeGuard(engine, gate, options, who) {
  if (!(engine instanceof passgate.Engine)) throw new TypeError(`${who}: engine must be a passgate Engine`)
  if (typeof gate !== 'string' || gate.length === 0) throw new TypeError(`${who}: gate must be a non-empty string`)
  if (options !== undefined && (options === null || typeof options !== 'object')) throw new TypeError(`${who}: options must be an object`)
  const { passport = null, payload, hold = false, settle } = options ?? {}
  for (const [name, f] of [['payload', payload], ['settle', settle]]) {
    if (f !== undefined && typeof f !== 'function') throw new TypeError(`${who}: ${name} must be a function`)
  }
  if (typeof hold !== 'boolean') throw new TypeError(`${who}: hold must be a boolean`)
  if (settle !== undefined && !hold) throw new TypeError(`${who}: settle needs hold: true`)

  async function decide(input, context, approval) {
    let decision
    try {
      const token = typeof passport === 'function' ? await passport(context) : passport
      const request = {
        gate,
        passport: token ?? undefined,
        payload: payload !== undefined ? await payload(input) : input,
      }
      if (hold) request.hold = true
      if (approval !== undefined) request.approval = approval
      decision = await enforceTraced(engine, request)
    } catch (err) {
      throw new Refused(failure(err))
    }
    const refused = outcome(decision)
    if (refused !== null) throw new Refused(refused, decision)
    return decision
  }

  async function finish(decision, input, body) {
    const holdId = hold ? (decision.holdId ?? undefined) : undefined
    let result
    try {
      result = await body()
    } catch (err) {
      if (holdId !== undefined) {
        try {
          engine.release(holdId)
        } catch (e) {
          warn(`passgate: hold ${holdId} of evaluation ${decision.evaluationId} (${gate}) could not be released after the tool failed`, e)
        }
      }
      throw err
    }
    if (holdId !== undefined) {
      try {
        const actual = settle !== undefined ? await settle(result, input) : undefined
        engine.settle(holdId, actual ?? undefined)
      } catch (e) {
        warn(`passgate: hold ${holdId} of evaluation ${decision.evaluationId} (${gate}) was not settled; it expires at its reserved amounts`, e)
      }
    }
    return result
  }

  return { gate, decide, finish }
}

function markGate(tool, gate) {
  Object.defineProperty(tool, GATE_PROPERTY, { value: gate, enumerable: false, configurable: true })
  return tool
}

/** The gate a passgate wrapper put on `tool`, or undefined. */
function gateOf(tool) {
  const g = tool?.[GATE_PROPERTY]
  return typeof g === 'string' ? g : undefined
}

function gateFor(name, tool, gates) {
  const g = gateOf(tool)
  if (g !== undefined) return g
  if (typeof gates === 'function') return gates(name, tool) ?? undefined
  if (gates !== null && typeof gates === 'object' && Object.hasOwn(gates, name)) return gates[name]
  return undefined
}

/** The `field` pointers of the spend caps in a `getConstraints` answer (constraints and caveats). */
function spendFields(doc, out = []) {
  if (Array.isArray(doc)) {
    for (const v of doc) spendFields(v, out)
  } else if (doc !== null && typeof doc === 'object') {
    if (doc.type === 'spend_limit' && typeof doc.field === 'string') out.push(doc.field)
    for (const v of Object.values(doc)) spendFields(v, out)
  }
  return out
}

/** A payload spending nothing: 0 at each spend cap's field (so a dry run reports what is left). */
function probePayload(engine, passport, gate) {
  let fields
  try {
    fields = spendFields(engine.getConstraints(gate, passport ?? null))
  } catch (err) {
    if (ownError(err) && passgate.isPassgateError(err)) return {}
    throw err
  }
  const payload = {}
  for (const pointer of fields) {
    const parts = pointer.split('/').slice(1).map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'))
    if (parts.length === 0 || parts.includes('*')) continue
    let node = payload
    let ok = true
    for (const p of parts.slice(0, -1)) {
      if (!Object.hasOwn(node, p)) node[p] = {}
      if (node[p] === null || typeof node[p] !== 'object') { ok = false; break }
      node = node[p]
    }
    const last = parts[parts.length - 1]
    if (ok && !Object.hasOwn(node, last)) node[last] = 0
  }
  return payload
}

function probe(engine, passport, gate) {
  return engine.dryRun({ gate, passport: passport ?? undefined, payload: probePayload(engine, passport, gate) })
}

function callableNow(decision) {
  return !decision.checks.some((c) => !c.passed && (ARGUMENT_FREE.has(c.type) || ARGUMENT_FREE.has(c.constraint)))
}

/** Entries `[name, tool]` of an array of named tools or of a record of tools. */
function entriesOf(tools) {
  if (Array.isArray(tools)) return tools.map((t) => [t?.name, t])
  if (tools !== null && typeof tools === 'object') return Object.entries(tools)
  throw new TypeError('allowedTools: tools must be an array or a record of tools')
}

/**
 * The tools the passport may call now (same container shape as `tools`: a record for a record, an
 * array for an array): a tool's gate (its wrapper's, or `gates[name]` / `gates(name, tool)`) must
 * be in `engine.allowedGates(passport)` and a dry run without arguments must fail no check that
 * every call would fail. A tool without a gate is dropped (fail closed).
 */
function allowedTools(engine, passport, tools, gates) {
  const allowed = new Set(engine.allowedGates(passport ?? null))
  const probes = new Map()
  const keep = ([name, tool]) => {
    const gate = gateFor(name, tool, gates)
    if (gate === undefined || !allowed.has(gate)) return false
    if (!probes.has(gate)) probes.set(gate, callableNow(probe(engine, passport, gate)))
    return probes.get(gate)
  }
  const kept = entriesOf(tools).filter(keep)
  return Array.isArray(tools) ? kept.map(([, t]) => t) : Object.fromEntries(kept)
}

/** Per gate of `tools` the passport may call: what is left of each cumulative budget (a dry run). */
function remainingBudgets(engine, passport, tools, gates) {
  const allowed = new Set(engine.allowedGates(passport ?? null))
  const out = {}
  for (const [name, tool] of entriesOf(tools)) {
    const gate = gateFor(name, tool, gates)
    if (gate === undefined || !allowed.has(gate) || Object.hasOwn(out, gate)) continue
    out[gate] = { ...probe(engine, passport, gate).remaining }
  }
  return out
}

/** A paragraph for the system prompt with what is left of each budget ('' when none). */
function budgetPrompt(engine, passport, tools, gates) {
  const budgets = remainingBudgets(engine, passport, tools, gates)
  const parts = Object.keys(budgets).sort().filter((g) => Object.keys(budgets[g]).length > 0)
    .map((g) => `${g}: ` + Object.keys(budgets[g]).sort().map((id) => `${id} ${budgets[g][id]}`).join(', '))
  if (parts.length === 0) return ''
  return `Remaining passgate budgets (a call that would exceed one is refused): ${parts.join('; ')}.`
}

module.exports = {
  Refused,
  makeGuard,
  markGate,
  gateOf,
  allowedTools,
  remainingBudgets,
  budgetPrompt,
  enforceTraced,
  GATE_PROPERTY,
}
