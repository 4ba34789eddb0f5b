// A TypeScript consumer of 'passgate/mcp' (ESM), type-checked in `make test-node`. The SDK is not
// a dependency of passgate: `Extra` and `registerTool` mirror the shapes of @modelcontextprotocol/sdk
// 1.x (`RequestHandlerExtra`, `McpServer.registerTool`'s callback) structurally.
import { Engine, Issuer } from 'passgate'
import {
  tools,
  handle,
  handleAsync,
  guard,
  withGuardArguments,
  guardArguments,
  PASSPORT_META,
  APPROVAL_META,
  IDEMPOTENCY_META,
  APPROVAL_ARGUMENT,
  IDEMPOTENCY_ARGUMENT,
  NOT_EXECUTED,
  type McpTool,
  type GuardErrorResult,
  type GuardRefusal,
  type GuardFailure,
  type JsonRpcResponse,
} from 'passgate/mcp'
import type { JsonObject } from 'passgate'

// As the SDK's CallToolResult: an index signature (passthrough), so an interface would not fit.
type TextResult = { [x: string]: unknown; content: { type: 'text'; text: string }[]; isError?: boolean; structuredContent?: { [k: string]: unknown } }
type Extra = {
  signal: AbortSignal
  requestId: string | number
  sessionId?: string
  _meta?: { [key: string]: unknown; progressToken?: string | number }
}
declare function registerTool(
  name: string,
  config: { description?: string },
  cb: (args: { amount: number; to: string }, extra: Extra) => TextResult | Promise<TextResult>,
): void

const issuer = Issuer.generate()
const engine = new Engine({ policy: { version: 1, gates: {} }, trustedIssuers: [issuer] })

const catalogue: McpTool[] = tools()
const schema: string = JSON.stringify(catalogue[0]?.inputSchema)
const meta: 'passgate/passport' = PASSPORT_META

// The handler's arguments are typed from registerTool's callback type.
registerTool(
  'send_payment',
  { description: 'pay' },
  guard(engine, 'payments.send', async ({ amount, to }, extra) => {
    const id: string | number = extra.requestId
    return { content: [{ type: 'text' as const, text: `${amount} to ${to} (${id})` }] }
  }),
)
registerTool(
  'send_payment_cents',
  {},
  guard(engine, 'payments.send', ({ amount }) => ({ content: [{ type: 'text' as const, text: String(amount) }] }), {
    payload: ({ amount, to }) => ({ amount: amount / 100, to }),
    passport: (_args, extra) => (typeof extra._meta?.[PASSPORT_META] === 'string' ? extra._meta[PASSPORT_META] : undefined),
  }),
)

const text: string | null = handle(engine, '{"jsonrpc": "2.0", "id": 1, "method": "ping"}', { issuer, role: 'operator' })
const obj = handle(engine, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { role: 'agent', passport: 'token' })
const listed: JsonObject | undefined = obj?.result
const single: JsonRpcResponse | null = handle(engine, { jsonrpc: '2.0', id: 1, method: 'ping' })
const operatorTools: McpTool[] = tools('operator')
// @ts-expect-error: a batch (array) is not a message (handle answers one with -32600)
handle(engine, [{ jsonrpc: '2.0', id: 1, method: 'ping' }])
// @ts-expect-error: no such role
tools('root')

// Holds: settle gets the handler's result, typed.
registerTool(
  'complete',
  {},
  guard(
    engine,
    'llm.call',
    async ({ amount }) => ({ content: [{ type: 'text' as const, text: 'ok' }], structuredContent: { spent: amount / 2 } }),
    {
      hold: true,
      settle: async (result, args) => ({ cost: result.structuredContent.spent, to: args.to }),
      arguments: true,
    },
  ),
)
// @ts-expect-error: hold is a boolean
guard(engine, 'g', () => 1, { hold: 'yes' })

// The two optional arguments: for a JSON Schema host, and for a zod one (a structural stand-in).
const jsonSchema = withGuardArguments({ type: 'object', properties: { amount: { type: 'number' } }, required: ['amount'] })
const approvalDescription: string = jsonSchema.properties.passgate_approval.description
const required: string[] = jsonSchema.required
class OptionalString {
  readonly _zod = 'optional string'
  describe(_d: string): this {
    return this
  }
}
const shape: { passgate_approval: OptionalString; passgate_idempotency_key: OptionalString } = guardArguments(new OptionalString())
// @ts-expect-error: a schema, not the zod namespace
guardArguments({ string: () => 1 })
const names: ['passgate/approval', 'passgate/idempotency_key', 'passgate_approval', 'passgate_idempotency_key', 'guard.not_executed'] = [
  APPROVAL_META,
  IDEMPOTENCY_META,
  APPROVAL_ARGUMENT,
  IDEMPOTENCY_ARGUMENT,
  NOT_EXECUTED,
]
// An SDK request's params (values typed unknown) can be passed on as they are.
const params: { name: string; arguments?: Record<string, unknown>; _meta?: { [k: string]: unknown } } = { name: 'list_gates' }
async function call(): Promise<JsonObject> {
  const reply = await handleAsync(engine, { jsonrpc: '2.0', id: 0, method: 'tools/call', params })
  if (!reply || reply.error) throw new Error(reply?.error?.message ?? 'no reply')
  return reply.result ?? {}
}
async function later(): Promise<void> {
  const t: string | null = await handleAsync(engine, '{}', { issuer: issuer.secret })
  const o = await handleAsync(engine, { jsonrpc: '2.0', id: 2, method: 'ping' })
  console.log(t, o)
}

function explain(r: GuardErrorResult): string {
  const parsed = JSON.parse(r.content[0].text) as GuardRefusal | GuardFailure
  return 'error' in parsed ? parsed.error.code : parsed.checks.map((c) => `${c.constraint}: ${c.message}`).join('; ')
}

// @ts-expect-error: the gate is a string
guard(engine, 42, () => 1)
// @ts-expect-error: payload must be a function
guard(engine, 'g', () => 1, { payload: { amount: 1 } })
// @ts-expect-error: a refusal's verdict is never allow
const never: GuardRefusal = { decision: 'allow', gate: 'g', evaluation_id: 'e', checks: [] }

console.log(schema, meta, text, listed, single, operatorTools, call, later, explain, never, approvalDescription, required, shape, names)
