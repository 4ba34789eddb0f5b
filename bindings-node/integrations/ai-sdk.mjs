// passgate/integrations/ai-sdk (ES module entry): the CommonJS entry's exports, by name.
import m from './ai-sdk.js'

export const { guardTool, guardTools, isRefusal, allowedTools, remainingBudgets, budgetPrompt, gateOf, enforceTraced } = m
export default m
