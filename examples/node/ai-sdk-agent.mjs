// passgate + the Vercel AI SDK: an agent whose payments tool is behind a gate. Offline: the SDK's
// MockLanguageModelV3 plays the LLM, scripted to pay 30 (allowed), 90 (denied: daily cap of 100)
// and 60 (escalated: above 50 needs a human). Run: `node examples/node/ai-sdk-agent.mjs` (after `make demo`).
import { generateText, stepCountIs, tool } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { z } from 'zod'
import passgate from 'passgate'
import { allowedTools, budgetPrompt, guardTools } from 'passgate/integrations/ai-sdk'

const issuer = passgate.Issuer.generate()
const passport = issuer.issuePassport({ agentId: 'shopper', permissions: ['payments:send'] })
const engine = new passgate.Engine({
  policy: { version: 1, gates: {
    'payments.send': { require: ['payments:send'], constraints: [
      { id: 'daily-spend', type: 'spend_limit', field: '/amount', max: 100, window: '1d' },
      { id: 'big-payment', type: 'approval', when: { field: '/amount', op: 'gt', value: 50 } },
    ] },
    'admin.wipe': { require: ['admin:wipe'] },
  } },
  trustedIssuers: [issuer.did],
})

// Every tool behind its gate; the passport is the one of this request (or a function of the call).
const tools = guardTools({
  sendPayment: tool({
    description: 'Send money to someone',
    inputSchema: z.object({ amount: z.number(), to: z.string() }),
    execute: async ({ amount, to }) => `sent ${amount} to ${to}`,
  }),
  wipeDatabase: tool({ description: 'Delete everything', inputSchema: z.object({}), execute: async () => 'wiped' }),
}, engine, { sendPayment: 'payments.send', wipeDatabase: 'admin.wipe' }, { passport: passport.token })

// Planning: offer only what the passport may call, and tell the model its budget.
const offered = allowedTools(engine, passport.token, tools)
console.log('offered:', Object.keys(offered))
console.log('system prompt:', budgetPrompt(engine, passport.token, offered))

const usage = { inputTokens: { total: 1, noCache: 1 }, outputTokens: { total: 1, text: 1 } }
const calls = [{ amount: 30, to: 'bob' }, { amount: 90, to: 'eve' }, { amount: 60, to: 'carol' }]
const model = new MockLanguageModelV3({
  doGenerate: [
    ...calls.map((args, i) => ({
      content: [{ type: 'tool-call', toolCallId: `c${i}`, toolName: 'sendPayment', input: JSON.stringify(args) }],
      finishReason: { unified: 'tool-calls' }, usage, warnings: [],
    })),
    { content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop' }, usage, warnings: [] },
  ],
})

const result = await generateText({ model, tools: offered, prompt: 'pay my friends', stopWhen: stepCountIs(10) })
for (const step of result.steps) for (const r of step.toolResults) console.log('tool:', JSON.stringify(r.output))
const records = engine.attestations()
console.log(`${records.length} signed attestations; chain verifies:`, passgate.verifyChain(records, engine.signerDid))
