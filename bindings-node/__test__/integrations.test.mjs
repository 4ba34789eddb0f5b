// passgate/integrations/ai-sdk and passgate/integrations/langchain: real agent loops with the
// frameworks' own test models (AI SDK MockLanguageModelV3 + generateText; LangChain.js
// FakeListChatModel scripted with tool calls + a tool-calling loop), holds, filtering, and OpenTelemetry spans.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import { generateText, stepCountIs, tool as aiTool } from 'ai'
import { MockLanguageModelV3 } from 'ai/test'
import { tool as lcTool } from '@langchain/core/tools'
import { AIMessage, HumanMessage, ToolMessage } from '@langchain/core/messages'
import { FakeListChatModel } from '@langchain/core/utils/testing'
import { z } from 'zod'
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'

import * as aiSdk from 'passgate/integrations/ai-sdk'
import * as lc from 'passgate/integrations/langchain'
import { passgate, Engine, Issuer } from './helpers.mjs'

const POLICY = {
  version: 1,
  gates: {
    'payments.send': {
      require: ['payments:send'],
      constraints: [
        { id: 'daily-spend', type: 'spend_limit', field: '/amount', max: 100, window: '1d' },
        { id: 'big-payment', type: 'approval', when: { field: '/amount', op: 'gt', value: 50 } },
      ],
    },
    'admin.wipe': { require: ['admin:wipe'] },
  },
}
// The scenario: 30 allowed, 90 denied (30 + 90 > 100), 60 escalated (> 50 needs an approval).
const CALLS = [
  [{ amount: 30, to: 'bob' }, 'allow'],
  [{ amount: 90, to: 'eve' }, 'deny'],
  [{ amount: 60, to: 'carol' }, 'escalate'],
]

function setup() {
  const issuer = Issuer.generate()
  const passport = issuer.issuePassport({ agentId: 'agent-fw', permissions: ['payments:send'] })
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  return { issuer, passport, engine }
}

const decisions = (engine) => engine.attestations().filter((r) => r.body.kind === 'decision')

function assertThreeAttestations(engine) {
  const records = decisions(engine)
  assert.deepEqual(records.map((r) => r.body.decision), CALLS.map(([, d]) => d))
  assert.equal(passgate.verifyChain(engine.attestations(), engine.signerDid), true)
  for (const r of records) assert.equal(passgate.verifyAttestation(r, engine.signerDid), true)
}

function assertRefusals([deny, escalate]) {
  assert.equal(deny.decision, 'deny')
  assert.deepEqual(deny.checks.map((c) => c.constraint).sort(), ['big-payment', 'daily-spend'])
  assert.equal(deny.checks.find((c) => c.constraint === 'daily-spend').observed, '120')
  assert.equal(deny.approval_request, undefined)
  assert.equal(escalate.decision, 'escalate')
  assert.deepEqual(escalate.checks.map((c) => c.constraint), ['big-payment'])
  assert.equal(escalate.approval_request.evaluation_id, escalate.evaluation_id)
}

const remaining = (engine, passport) =>
  engine.dryRun({ gate: 'payments.send', passport: passport.token, payload: { amount: 0, to: 'x' } }).remaining['daily-spend']

const USAGE = {
  inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 1, text: 1, reasoning: undefined },
}

/** An AI SDK mock model: one tool call per step, then a text answer. */
function aiModel(name, calls) {
  const steps = calls.map((args, i) => ({
    content: [{ type: 'tool-call', toolCallId: `c${i}`, toolName: name, input: JSON.stringify(args) }],
    finishReason: { unified: 'tool-calls', raw: undefined },
    usage: USAGE,
    warnings: [],
  }))
  steps.push({ content: [{ type: 'text', text: 'done' }], finishReason: { unified: 'stop', raw: undefined }, usage: USAGE, warnings: [] })
  return new MockLanguageModelV3({ doGenerate: steps })
}

const paymentSchema = z.object({ amount: z.number(), to: z.string() })

test('ai-sdk: an agent loop — allowed, denied on the spend cap, escalated', async () => {
  const { passport, engine } = setup()
  const ran = []
  const sendPayment = aiTool({
    description: 'Send money',
    inputSchema: paymentSchema,
    execute: async ({ amount, to }) => { ran.push([amount, to]); return `sent ${amount} to ${to}` },
  })
  const tools = { sendPayment: aiSdk.guardTool(sendPayment, engine, 'payments.send', { passport: () => passport.token }) }
  const model = aiModel('sendPayment', CALLS.map(([a]) => a))
  const result = await generateText({ model, tools, prompt: 'pay three people', stopWhen: stepCountIs(10) })

  assert.equal(result.text, 'done')
  assert.deepEqual(ran, [[30, 'bob']])
  const outputs = result.steps.flatMap((s) => s.toolResults.map((r) => r.output))
  assert.equal(outputs[0], 'sent 30 to bob')
  assertRefusals(outputs.slice(1))
  // What the model was sent on its last call holds the three tool results.
  const last = JSON.stringify(model.doGenerateCalls.at(-1).prompt)
  assert.ok(last.includes('sent 30 to bob') && last.includes('"decision":"deny"') && last.includes('"decision":"escalate"'))
  assertThreeAttestations(engine)
})

test('ai-sdk: a tool that throws releases its hold; one that returns settles it', async () => {
  const { passport, engine } = setup()
  const failing = aiSdk.guardTool(
    aiTool({ description: 'pay', inputSchema: paymentSchema, execute: async () => { throw new Error('bank down') } }),
    engine, 'payments.send', { passport: passport.token, hold: true },
  )
  const result = await generateText({ model: aiModel('failing', [{ amount: 40, to: 'bob' }]), tools: { failing }, prompt: 'pay', stopWhen: stepCountIs(5) })
  const errors = result.steps.flatMap((s) => s.content.filter((p) => p.type === 'tool-error'))
  assert.equal(errors.length, 1)
  assert.equal(remaining(engine, passport), '100')
  assert.ok(engine.attestations().some((r) => r.body.kind === 'hold.released'))

  const paying = aiSdk.guardTool(
    aiTool({ description: 'pay', inputSchema: paymentSchema, execute: async () => ({ charged: 25 }) }),
    engine, 'payments.send', { passport: passport.token, hold: true, settle: (r, input) => ({ amount: r.charged, to: input.to }) },
  )
  await generateText({ model: aiModel('paying', [{ amount: 40, to: 'bob' }]), tools: { paying }, prompt: 'pay', stopWhen: stepCountIs(5) })
  assert.equal(remaining(engine, passport), '75')
})

test('ai-sdk: filtering by allowedGates, and a hidden tool named anyway is refused', async () => {
  const { passport, engine } = setup()
  const wiped = []
  const tools = aiSdk.guardTools(
    {
      sendPayment: aiTool({ description: 'pay', inputSchema: paymentSchema, execute: async () => 'sent' }),
      wipe: aiTool({ description: 'wipe', inputSchema: z.object({}), execute: async () => { wiped.push(1); return 'wiped' } }),
      unmapped: aiTool({ description: 'x', inputSchema: z.object({}), execute: async () => 'x' }),
    },
    engine, { sendPayment: 'payments.send', wipe: 'admin.wipe' }, { passport: passport.token },
  )
  assert.deepEqual(Object.keys(tools), ['sendPayment', 'wipe'])
  assert.deepEqual(Object.keys(aiSdk.allowedTools(engine, passport.token, tools)), ['sendPayment'])
  assert.equal(aiSdk.budgetPrompt(engine, passport.token, tools),
    'Remaining passgate budgets (a call that would exceed one is refused): payments.send: daily-spend 100.')
  const out = await tools.wipe.execute({}, { toolCallId: 'w', messages: [] })
  assert.equal(out.checks[0].constraint, 'permissions')
  assert.deepEqual(wiped, [])
  // An engine error (a NaN amount) is a refusal, never a run; so is a throwing passport source.
  const bad = aiSdk.guardTool(aiTool({ description: 'pay', inputSchema: z.any(), execute: async () => { wiped.push(2) } }), engine, 'payments.send', { passport: passport.token })
  assert.equal((await bad.execute({ amount: NaN }, { toolCallId: 'n', messages: [] })).error.code, 'PAYLOAD_INVALID')
  const throwing = aiSdk.guardTool(aiTool({ description: 'pay', inputSchema: z.any(), execute: async () => { wiped.push(3) } }), engine, 'payments.send', { passport: () => { throw new Error('secret') } })
  const internal = await throwing.execute({ amount: 1 }, { toolCallId: 'i', messages: [] })
  assert.equal(internal.error.code, 'INTERNAL')
  assert.ok(!JSON.stringify(internal).includes('secret'))
  assert.deepEqual(wiped, [])
})

/** LangChain's FakeListChatModel, answering with scripted AI messages (tool calls included). */
class ScriptedChat extends FakeListChatModel {
  _formatGeneration(response) {
    return typeof response === 'string' ? super._formatGeneration(response) : { message: response, text: '' }
  }
}

/** A LangChain.js tool-calling loop: the model's tool calls run through the tools by name. */
async function lcLoop(model, tools, config) {
  const byName = Object.fromEntries(tools.map((t) => [t.name, t]))
  const messages = [new HumanMessage('go')]
  for (let i = 0; i < 10; i++) {
    const reply = await model.invoke(messages)
    messages.push(reply)
    if (!reply.tool_calls?.length) return messages
    for (const call of reply.tool_calls) messages.push(await byName[call.name].invoke({ ...call, type: 'tool_call' }, config))
  }
  throw new Error('the loop did not end')
}

test('langchain: an agent loop — allowed, denied on the spend cap, escalated', async () => {
  const { passport, engine } = setup()
  const ran = []
  const sendPayment = lcTool(async ({ amount, to }) => { ran.push([amount, to]); return `sent ${amount} to ${to}` },
    { name: 'send_payment', description: 'Send money', schema: paymentSchema })
  const guarded = lc.guardTool(sendPayment, engine, 'payments.send', { passport: (config) => config.configurable.passport })
  const responses = [
    ...CALLS.map(([args], i) => new AIMessage({ content: '', tool_calls: [{ name: 'send_payment', args, id: `c${i}` }] })),
    new AIMessage('done'),
  ]
  const seen = []
  const model = new ScriptedChat({ responses })
  const bound = model.bindTools([guarded])
  const recording = { invoke: async (m) => { seen.push([...m]); return bound.invoke(m) } }
  const messages = await lcLoop(recording, [guarded], { configurable: { passport: passport.token } })

  assert.deepEqual(ran, [[30, 'bob']])
  const results = messages.filter((m) => m instanceof ToolMessage)
  assert.deepEqual(results.map((m) => m.status ?? 'success'), ['success', 'error', 'error'])
  assert.equal(results[0].content, 'sent 30 to bob')
  assertRefusals(results.slice(1).map((m) => JSON.parse(m.content)))
  assert.deepEqual(seen.at(-1).filter((m) => m instanceof ToolMessage).map((m) => m.content), results.map((m) => m.content))
  assertThreeAttestations(engine)
})

test('langchain: a tool that throws releases its hold; filtering', async () => {
  const { passport, engine } = setup()
  const failing = lc.guardTool(lcTool(async () => { throw new Error('bank down') }, { name: 'failing', description: 'pay', schema: paymentSchema }),
    engine, 'payments.send', { passport: passport.token, hold: true })
  await assert.rejects(failing.invoke({ amount: 40, to: 'bob' }), /bank down/)
  assert.equal(remaining(engine, passport), '100')
  const paying = lc.guardTool(
    lcTool(async () => ['sent', { charged: 25 }], { name: 'paying', description: 'pay', schema: paymentSchema, responseFormat: 'content_and_artifact' }),
    engine, 'payments.send', { passport: passport.token, hold: true, settle: (r, input) => ({ amount: r.charged, to: input.to }) })
  const msg = await paying.invoke({ name: 'paying', args: { amount: 40, to: 'bob' }, id: 'p', type: 'tool_call' })
  assert.equal(msg.content, 'sent')
  assert.equal(remaining(engine, passport), '75')
  const wipe = lc.guardTool(lcTool(async () => 'wiped', { name: 'wipe', description: 'wipe', schema: z.object({}) }), engine, 'admin.wipe', { passport: passport.token })
  assert.deepEqual(lc.allowedTools(engine, passport.token, [paying, wipe]), [paying])
  const refused = await wipe.invoke({ name: 'wipe', args: {}, id: 'w', type: 'tool_call' })
  assert.equal(refused.status, 'error')
  assert.equal(JSON.parse(refused.content).checks[0].constraint, 'permissions')
})

test('OpenTelemetry: one passgate.enforce span per decision, with its attributes', async () => {
  const { passport, engine } = setup()
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  assert.ok(trace.setGlobalTracerProvider(provider))
  try {
    const t = aiSdk.guardTool(aiTool({ description: 'pay', inputSchema: paymentSchema, execute: async () => 'sent' }), engine, 'payments.send', { passport: passport.token })
    await t.execute({ amount: 30, to: 'bob' }, { toolCallId: 'a', messages: [] })
    await t.execute({ amount: 90, to: 'eve' }, { toolCallId: 'b', messages: [] })
    await t.execute({ amount: NaN, to: 'eve' }, { toolCallId: 'c', messages: [] })
    const spans = exporter.getFinishedSpans()
    assert.deepEqual(spans.map((s) => s.name), ['passgate.enforce', 'passgate.enforce', 'passgate.enforce'])
    const [a, b, c] = spans.map((s) => s.attributes)
    assert.equal(a['passgate.gate'], 'payments.send')
    assert.equal(a['passgate.decision'], 'allow')
    assert.match(a['passgate.evaluation_id'], /^evl_/)
    assert.deepEqual(a['passgate.failed_checks'], [])
    assert.equal(typeof a['passgate.latency_ms'], 'number')
    assert.equal(b['passgate.decision'], 'deny')
    assert.deepEqual(b['passgate.failed_checks'], ['big-payment', 'daily-spend'])
    assert.equal(c['passgate.decision'], 'error')
    assert.equal(c['passgate.error_code'], 'PAYLOAD_INVALID')
  } finally {
    trace.disable()
  }
})

test('OpenTelemetry: with no provider registered, decisions go on and nothing records', async () => {
  const { execFileSync } = await import('node:child_process')
  const code = `
    const { trace } = require('@opentelemetry/api')
    const passgate = require('passgate')
    const { enforceTraced } = require('passgate/integrations/ai-sdk')
    const issuer = passgate.Issuer.generate()
    const p = issuer.issuePassport({ agentId: 'a', permissions: ['x:y'] })
    const engine = new passgate.Engine({ policy: { version: 1, gates: { 'x.y': { require: ['x:y'] } } }, trustedIssuers: [issuer.did] })
    enforceTraced(engine, { gate: 'x.y', passport: p.token, payload: {} }).then((d) => {
      console.log(d.decision, trace.getTracer('passgate').startSpan('probe').isRecording())
    })`
  const out = execFileSync(process.execPath, ['-e', code], { cwd: new URL('..', import.meta.url) }).toString().trim()
  assert.equal(out, 'allow false')
})

test('importing the integration entries loads no framework', async () => {
  const { execFileSync } = await import('node:child_process')
  const code = "require('passgate/integrations/ai-sdk'); require('passgate/integrations/langchain'); " +
    "const loaded = Object.keys(require.cache).filter((f) => /node_modules\\/(ai|@langchain|@opentelemetry)\\//.test(f)); console.log(JSON.stringify(loaded))"
  assert.equal(execFileSync(process.execPath, ['-e', code], { cwd: new URL('..', import.meta.url) }).toString().trim(), '[]')
})
