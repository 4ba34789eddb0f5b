// An MCP server on the official TypeScript SDK (@modelcontextprotocol/sdk) that serves passgate's
// own tools (enforce_action, issue_passport, get_attestations, …) and two demo tools guarded by
// passgate gates: send_payment (gate payments.send) and fetch_url (gate web.fetch). A client passes
// the agent's passport in the call's `_meta: {"passgate/passport": token}`.
//
// Run: `make demo` (installs the SDK here), then
//   node examples/node/mcp-server.mjs              # stdio (for Claude Desktop, Cursor, …)
//   node examples/node/mcp-server.mjs --http 3000  # Streamable HTTP on http://127.0.0.1:3000/mcp
//
// Configuration (environment):
//   PASSGATE_POLICY           policy JSON path (default: ../mcp/demo-policy.json)
//   PASSGATE_TRUSTED_ISSUERS  comma-separated did:key; unset: a demo issuer is generated, trusted
//                             and used by issue_passport (its did is logged to stderr)
//   PASSGATE_STORE            store URL (default memory:, e.g. sqlite:///tmp/passgate.db)
//   PASSGATE_SIGNING_SECRET   attestation signing key (default: a fresh key per start)
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'

import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js'
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { Engine, Issuer } from 'passgate'
import { guard, handleAsync, tools } from 'passgate/mcp'

const env = process.env
const log = (...args) => console.error('[passgate-mcp]', ...args) // stdout is the stdio transport

// ---- The engine. Without trusted issuers configured, a demo issuer signs passports here.
const issuer = env.PASSGATE_TRUSTED_ISSUERS ? undefined : Issuer.generate()
const engine = new Engine({
  policy: env.PASSGATE_POLICY || fileURLToPath(new URL('../mcp/demo-policy.json', import.meta.url)),
  trustedIssuers: issuer ? [issuer.did] : env.PASSGATE_TRUSTED_ISSUERS.split(',').map((d) => d.trim()),
  signingKey: env.PASSGATE_SIGNING_SECRET || undefined,
  store: env.PASSGATE_STORE || 'memory:',
})
if (issuer) log(`demo issuer (trusted, signs issue_passport): ${issuer.did}`)
log(`attestations signed by ${engine.signerDid}`)

// ---- Two demo tools, each behind a gate: guard() runs the handler only when the engine allows
// ---- the call (the gate's input_schema in the policy checks the arguments first).
const text = (value) => ({ content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value })
const demoTools = [
  {
    name: 'send_payment',
    description: 'Send a payment (simulated: no money moves). Gate payments.send: pass your passport in _meta["passgate/passport"].',
    inputSchema: {
      type: 'object',
      properties: { amount: { type: 'number' }, currency: { type: 'string' }, to: { type: 'string' } },
      required: ['amount', 'currency', 'to'],
    },
    call: guard(engine, 'payments.send', async ({ amount, currency, to }) =>
      text({ receipt: `rcpt_${randomUUID()}`, status: 'sent (simulated)', amount, currency, to })),
  },
  {
    name: 'fetch_url',
    description: 'Fetch a URL (demo: nothing is fetched). Gate web.fetch: pass your passport in _meta["passgate/passport"].',
    inputSchema: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
    call: guard(engine, 'web.fetch', async ({ url }) => text({ url, status: 'would fetch (demo: nothing fetched)' })),
  },
]

// ---- The MCP server: the low-level Server, because passgate's tools come with their own JSON
// ---- Schemas (McpServer.registerTool takes zod schemas).
function createServer() {
  const server = new Server({ name: 'passgate-demo', version: '0.1.0' }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: [...tools(), ...demoTools.map(({ name, description, inputSchema }) => ({ name, description, inputSchema }))],
  }))
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const demo = demoTools.find((t) => t.name === request.params.name)
    if (demo) return demo.call(request.params.arguments ?? {}, extra)
    // passgate's own tools: its JSON-RPC handler answers the same tools/call (off the event loop).
    const reply = await handleAsync(engine, { jsonrpc: '2.0', id: 0, method: 'tools/call', params: request.params }, { issuer })
    if (reply.error) throw reply.error // a protocol fault (unknown tool, invalid arguments): a JSON-RPC error
    return reply.result
  })
  return server
}

const httpFlag = process.argv.indexOf('--http')
if (httpFlag === -1) {
  await createServer().connect(new StdioServerTransport())
  log('serving MCP on stdio')
} else {
  const port = Number(process.argv[httpFlag + 1])
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    log('usage: mcp-server.mjs [--http PORT]')
    process.exit(2)
  }
  // Stateless Streamable HTTP: a server and a transport per request; the engine (counters,
  // attestations) is shared. createMcpExpressApp checks the Host header (DNS rebinding).
  const app = createMcpExpressApp({ host: '127.0.0.1' })
  app.post('/mcp', async (req, res) => {
    const server = createServer()
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    res.on('close', () => {
      transport.close()
      server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  })
  const listener = app.listen(port, '127.0.0.1', () => log(`serving MCP on http://127.0.0.1:${listener.address().port}/mcp`))
}
