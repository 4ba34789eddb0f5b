// passgate + LangChain.js: a tool-calling loop whose payments tool is behind a gate. Offline:
// LangChain's FakeListChatModel plays the LLM, scripted to pay 30 (allowed), 90 (denied: daily
// cap of 100) and 60 (escalated: above 50 needs a human). Run: `node examples/node/langchain-agent.mjs`.
import { tool } from '@langchain/core/tools'
import { AIMessage, HumanMessage } from '@langchain/core/messages'
import { FakeListChatModel } from '@langchain/core/utils/testing'
import { z } from 'zod'
import passgate from 'passgate'
import { guardTool } from 'passgate/integrations/langchain'

/** LangChain's FakeListChatModel, answering with scripted AI messages (tool calls included). */
class ScriptedChat extends FakeListChatModel {
  _formatGeneration(response) {
    return typeof response === 'string' ? super._formatGeneration(response) : { message: response, text: '' }
  }
}

const issuer = passgate.Issuer.generate()
const passport = issuer.issuePassport({ agentId: 'shopper', permissions: ['payments:send'] })
const engine = new passgate.Engine({
  policy: { version: 1, gates: { 'payments.send': { require: ['payments:send'], constraints: [
    { id: 'daily-spend', type: 'spend_limit', field: '/amount', max: 100, window: '1d' },
    { id: 'big-payment', type: 'approval', when: { field: '/amount', op: 'gt', value: 50 } },
  ] } } },
  trustedIssuers: [issuer.did],
})

const sendPayment = tool(async ({ amount, to }) => `sent ${amount} to ${to}`, {
  name: 'send_payment', description: 'Send money to someone', schema: z.object({ amount: z.number(), to: z.string() }),
})
// The passport comes from the run's config (config.configurable), one per request.
const guarded = guardTool(sendPayment, engine, 'payments.send', { passport: (config) => config.configurable.passport })

const calls = [{ amount: 30, to: 'bob' }, { amount: 90, to: 'eve' }, { amount: 60, to: 'carol' }]
const model = new ScriptedChat({
  responses: [
    ...calls.map((args, i) => new AIMessage({ content: '', tool_calls: [{ name: 'send_payment', args, id: `c${i}` }] })),
    new AIMessage('done'),
  ],
}).bindTools([guarded])

const messages = [new HumanMessage('pay my friends')]
for (;;) {
  const reply = await model.invoke(messages)
  messages.push(reply)
  if (!reply.tool_calls?.length) break
  for (const call of reply.tool_calls) {
    const result = await guarded.invoke({ ...call, type: 'tool_call' }, { configurable: { passport: passport.token } })
    console.log(`tool (${result.status ?? 'success'}):`, result.content)
    messages.push(result)
  }
}
const records = engine.attestations()
console.log(`${records.length} signed attestations; chain verifies:`, passgate.verifyChain(records, engine.signerDid))
