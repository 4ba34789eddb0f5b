'use strict'
// passgate/integrations/langchain (CommonJS entry): passgate for LangChain.js tools. It requires
// `@langchain/core` (a peer the host has) only when `guardTool` is called. Contract: langchain.d.ts.

const core = require('./core.js')

/**
 * `inner` (a LangChain.js tool: `tool(fn, {name, description, schema})`, a `StructuredTool`)
 * behind `gate`: a new tool with its name, description and schema that enforces first and invokes
 * `inner` only on allow. A refusal, called with a tool call, is a `ToolMessage` with
 * `status: 'error'` whose content is the refusal JSON; called with plain input, the JSON text.
 * `passport` may be a function of the call's `RunnableConfig` (`config.configurable`).
 */
function guardTool(inner, engine, gate, options) {
  if (inner === null || typeof inner !== 'object' || typeof inner.invoke !== 'function') {
    throw new TypeError('guardTool: inner must be a LangChain.js tool')
  }
  const settle = options?.settle
  const valueOf = (r) => (r !== null && typeof r === 'object' && r._getType?.() === 'tool' ? (r.artifact ?? r.content) : r)
  const opts = typeof settle === 'function' ? { ...options, settle: (r, input) => settle(valueOf(r), input) } : options
  const guard = core.makeGuard(engine, gate, opts, 'guardTool')
  const { tool } = require('@langchain/core/tools')
  const { ToolMessage } = require('@langchain/core/messages')
  const wrapped = tool(
    async (input, config) => {
      const call = config?.toolCall
      let decision
      try {
        decision = await guard.decide(input, config)
      } catch (err) {
        if (!(err instanceof core.Refused)) throw err
        if (call?.id === undefined) return err.text
        return new ToolMessage({ content: err.text, tool_call_id: call.id, name: inner.name, status: 'error' })
      }
      const innerInput = call?.id !== undefined ? { ...call, args: input } : input
      const innerConfig = { ...config }
      delete innerConfig.toolCall
      return guard.finish(decision, input, () => inner.invoke(innerInput, innerConfig))
    },
    { name: inner.name, description: inner.description, schema: inner.schema },
  )
  return core.markGate(wrapped, gate)
}

module.exports = {
  guardTool,
  allowedTools: core.allowedTools,
  remainingBudgets: core.remainingBudgets,
  budgetPrompt: core.budgetPrompt,
  gateOf: core.gateOf,
  enforceTraced: core.enforceTraced,
}
