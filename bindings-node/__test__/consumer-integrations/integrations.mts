// Type check (tsc) of passgate/integrations/* against the real frameworks' types.
import { tool as aiTool, type ToolSet } from 'ai'
import { tool as lcTool } from '@langchain/core/tools'
import { z } from 'zod'
import { Engine, Issuer } from 'passgate'
import { allowedTools, budgetPrompt, guardTool, guardTools, isRefusal, type Refusal } from 'passgate/integrations/ai-sdk'
import * as lc from 'passgate/integrations/langchain'

const issuer = Issuer.generate()
const passport = issuer.issuePassport({ agentId: 'a', permissions: ['payments:send'] })
const engine = new Engine({ policy: { version: 1, gates: {} }, trustedIssuers: [issuer.did] })

const send = aiTool({
  description: 'pay',
  inputSchema: z.object({ amount: z.number(), to: z.string() }),
  execute: async ({ amount, to }) => ({ sent: amount, to }),
})
const guarded = guardTool(send, engine, 'payments.send', {
  passport: () => passport.token,
  hold: true,
  settle: (result: { sent: number }) => ({ amount: result.sent }),
})
const gate: string = guarded.passgateGate
const tools: ToolSet = { send: guarded }
const offered = allowedTools(engine, passport, tools)
const prompt: string = budgetPrompt(engine, passport.token, offered)
const many = guardTools({ send }, engine, { send: 'payments.send' }, { passport: passport.token })

export async function run(): Promise<unknown> {
  const out = await guarded.execute({ amount: 1, to: 'b' }, { toolCallId: 'c', messages: [], context: {} })
  const refusal: Refusal | undefined = isRefusal(out) ? out : undefined
  if (refusal !== undefined && 'decision' in refusal) console.log(refusal.checks.map((c) => c.constraint), refusal.approval_request)
  return many.send === undefined ? undefined : out
}

const lcSend = lcTool(async ({ amount }: { amount: number }) => `sent ${amount}`, {
  name: 'send', description: 'pay', schema: z.object({ amount: z.number() }),
})
const lcGuarded = lc.guardTool(lcSend, engine, 'payments.send', { passport: (config: { configurable: { passport: string } }) => config.configurable.passport })
const kept: (typeof lcGuarded)[] = lc.allowedTools(engine, passport.token, [lcGuarded])
console.log(gate, prompt, kept.length, lcGuarded.passgateGate)
