// Type check (tsc, in `make test-mcp-node`): guard() fits the real SDK's McpServer.registerTool
// callback type, with the handler's arguments typed from the tool's zod inputSchema. Relative
// imports: the SDK and zod as examples/node installs them, passgate from bindings-node.
import { McpServer } from '../../examples/node/node_modules/@modelcontextprotocol/sdk/dist/esm/server/mcp.js'
import { z } from '../../examples/node/node_modules/zod/index.js'
import { Engine } from '../../bindings-node/passgate.js'
import { guard } from '../../bindings-node/mcp.js'

const engine = new Engine({ policy: { version: 1, gates: {} } })
const server = new McpServer({ name: 'payments', version: '1.0.0' })
server.registerTool(
  'send_payment',
  { inputSchema: { amount: z.number(), currency: z.string(), to: z.string() } },
  guard(engine, 'payments.send', async ({ amount, currency, to }, extra) => {
    const n: number = amount
    const id: string | number = extra.requestId
    return { content: [{ type: 'text' as const, text: `sent ${n} ${currency} to ${to} (${id})` }] }
  }),
)
server.registerTool(
  'send_cents',
  { inputSchema: { cents: z.number().int() } },
  guard(engine, 'payments.send', ({ cents }) => ({ content: [{ type: 'text' as const, text: `sent ${cents}` }] }), {
    payload: ({ cents }) => ({ amount: cents / 100 }),
    passport: (_args, extra) => extra.authInfo?.token,
  }),
)
server.registerTool(
  'wrong',
  { inputSchema: { amount: z.number() } },
  // @ts-expect-error: the handler's arguments come from the schema (amount is a number)
  guard(engine, 'payments.send', async ({ amount }: { amount: string }) => ({ content: [{ type: 'text' as const, text: amount }] })),
)
