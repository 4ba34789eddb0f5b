// The CommonJS entries' types.
import aiSdk = require('passgate/integrations/ai-sdk')
import lc = require('passgate/integrations/langchain')

const budgets: Record<string, Record<string, string>> = aiSdk.remainingBudgets(null as never, null, {})
const g: string | undefined = lc.gateOf({})
console.log(budgets, g)
