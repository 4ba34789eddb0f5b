'use strict'
// passgate/integrations/ai-sdk (CommonJS entry): passgate for Vercel AI SDK tools. No dependency on
// the `ai` package: a tool is the plain object `tool({...})` returns. Contract: ai-sdk.d.ts.

const core = require('./core.js')

const REFUSALS = new WeakSet()

/**
 * `tool` (an AI SDK tool: `{ description, inputSchema, execute, ... }`) behind `gate`: a new tool
 * whose `execute` enforces first and runs the original only on allow. A refusal is returned as the
 * tool's output (the refusal JSON object), which the model reads.
 */
function guardTool(tool, engine, gate, options) {
  if (tool === null || typeof tool !== 'object') throw new TypeError('guardTool: tool must be an AI SDK tool object')
  if (typeof tool.execute !== 'function') throw new TypeError('guardTool: tool has no execute function (nothing to guard)')
  const guard = core.makeGuard(engine, gate, options, 'guardTool')
  const execute = tool.execute
  const wrapped = {
    ...tool,
    async execute(input, execution) {
      let decision
      try {
        decision = await guard.decide(input, execution)
      } catch (err) {
        if (!(err instanceof core.Refused)) throw err
        const refusal = { ...err.refusal }
        REFUSALS.add(refusal)
        return refusal
      }
      return guard.finish(decision, input, () => execute.call(tool, input, execution))
    },
  }
  if (typeof tool.toModelOutput === 'function') {
    const toModelOutput = tool.toModelOutput
    wrapped.toModelOutput = function (arg) {
      const output = arg !== null && typeof arg === 'object' && 'output' in arg ? arg.output : arg
      if (output !== null && typeof output === 'object' && REFUSALS.has(output)) return { type: 'json', value: output }
      return toModelOutput.call(tool, arg)
    }
  }
  return core.markGate(wrapped, gate)
}

/** Each tool of a record (`{ name: tool }`) behind its gate: `gates[name]` (or `gates(name, tool)`). Tools without a gate are left out. */
function guardTools(tools, engine, gates, options) {
  const out = {}
  for (const [name, tool] of Object.entries(tools)) {
    const gate = typeof gates === 'function' ? gates(name, tool) : Object.hasOwn(gates, name) ? gates[name] : undefined
    if (gate === undefined || gate === null) continue
    out[name] = guardTool(tool, engine, gate, options)
  }
  return out
}

/** True for what a guarded tool's `execute` returned instead of running (a refusal). */
function isRefusal(output) {
  return output !== null && typeof output === 'object' && REFUSALS.has(output)
}

module.exports = {
  guardTool,
  isRefusal,
  guardTools,
  allowedTools: core.allowedTools,
  remainingBudgets: core.remainingBudgets,
  budgetPrompt: core.budgetPrompt,
  gateOf: core.gateOf,
  enforceTraced: core.enforceTraced,
}
