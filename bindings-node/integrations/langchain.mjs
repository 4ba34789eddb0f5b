// passgate/integrations/langchain (ES module entry): the CommonJS entry's exports, by name.
import m from './langchain.js'

export const { guardTool, allowedTools, remainingBudgets, budgetPrompt, gateOf, enforceTraced } = m
export default m
