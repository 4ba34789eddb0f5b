// An MCP server on the official TypeScript SDK (@modelcontextprotocol/sdk) with passgate in front
// of its tools, serving one role (the same server as examples/python/mcp_server.py).
//
// The agent role (the default) is what a governed agent connects to: passgate's agent tools
// (enforce_action, authorize_dry_run, verify_passport, list_allowed_gates, list_my_evaluations)
// and two demo tools behind gates, listed only when the agent's passport allows their gate:
// send_payment (gate payments.send) and fetch_url (gate web.fetch), both simulated. The operator
// role (`--role operator`, a separate server for the operator's own client) serves every passgate
// tool: passports, policy, counters, holds, approvals, everyone's attestations. Never give an
// agent the operator's server: with it, it resets its own caps and approves its own escalations.
//
// Where the agent's passport comes from:
//   stdio (a desktop client starts the server: that process is one agent)
//       --passport-file PATH / PASSGATE_PASSPORT_FILE
//   Streamable HTTP
//       Authorization: Bearer <passport>; a bearer equal to PASSGATE_OPERATOR_TOKEN is the operator;
//       no bearer: an anonymous agent
//   programmatic clients, either transport
//       the call's _meta["passgate/passport"] (it wins over the connection's passport)
// An escalated call is retried with the operator's approval token in _meta["passgate/approval"]
// or, from a desktop client (arguments only), the tool argument `passgate_approval`.
//
// Run: `make demo` (installs the SDK here), then
//   node examples/node/mcp-server.mjs                   # stdio, agent role
//   node examples/node/mcp-server.mjs --role operator   # stdio, operator role
//   node examples/node/mcp-server.mjs --http 3000       # Streamable HTTP on http://127.0.0.1:3000/mcp
//
// Configuration (environment): PASSGATE_POLICY, PASSGATE_TRUSTED_ISSUERS (unset: demo mode),
// PASSGATE_STORE (default memory:; the agent and operator servers must share one persistent store),
// PASSGATE_SIGNING_SECRET, PASSGATE_PASSPORT_FILE, PASSGATE_OPERATOR_TOKEN, PASSGATE_OPERATOR_NAME
// (default "operator"), PASSGATE_ROLE. Demo mode: a demo issuer is trusted and the operator's
// issue_passport signs with it; an agent server with no passport file gets a demo passport for
// "demo-agent". With a persistent store the demo issuer and signing key are kept next to it
// (`<store>.demo-keys.json`, mode 0600), so passports and chains keep verifying across restarts.
import { randomUUID, timingSafeEqual } from 'node:crypto'
import { openSync, readFileSync, writeSync, closeSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createRequire } from 'node:module'

import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js'
import { CallToolRequestSchema, ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js'
import { Engine, Issuer } from 'passgate'
import { PASSPORT_META, guard, handleAsync, tools, withGuardArguments } from 'passgate/mcp'

const env = process.env
const { version } = createRequire(import.meta.url)('passgate/package.json')
const log = (...args) => console.error('[passgate-mcp]', ...args) // stdout is the stdio transport

const { values: flags } = parseArgs({
  options: {
    http: { type: 'string' },
    role: { type: 'string', default: env.PASSGATE_ROLE || 'agent' },
    'passport-file': { type: 'string' },
  },
})
const usage = (message) => {
  log(`${message}\nusage: mcp-server.mjs [--role agent|operator] [--passport-file PATH] [--http PORT]`)
  process.exit(2)
}
if (!['agent', 'operator'].includes(flags.role)) usage(`unknown role ${flags.role}`)
if (flags.http !== undefined && flags.role === 'operator') {
  usage('over HTTP the operator is the bearer of PASSGATE_OPERATOR_TOKEN, not --role')
}

// ---- Demo keys: kept next to a persistent store, fresh for memory:.
function demoKeys(store) {
  if (!store.startsWith('sqlite://')) return [Issuer.generate(), Issuer.generate().secret]
  const path = `${store.slice('sqlite://'.length).split('?')[0]}.demo-keys.json`
  let fd
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (err) {
    if (err.code !== 'EEXIST') throw err
    const keys = JSON.parse(readFileSync(path, 'utf8'))
    return [Issuer.fromSecret(keys.issuer_secret), keys.signing_secret]
  }
  const issuer = Issuer.generate()
  const signing = Issuer.generate().secret
  writeSync(fd, JSON.stringify({ issuer_secret: issuer.secret, signing_secret: signing }))
  closeSync(fd)
  log(`demo keys written to ${path}`)
  return [issuer, signing]
}

// ---- The engine. Without trusted issuers configured: demo mode.
const store = env.PASSGATE_STORE || 'memory:'
let issuer
let signingKey = env.PASSGATE_SIGNING_SECRET || undefined
let trusted = (env.PASSGATE_TRUSTED_ISSUERS || '').split(',').map((d) => d.trim()).filter(Boolean)
if (trusted.length === 0) {
  const [demoIssuer, demoSigning] = demoKeys(store)
  issuer = demoIssuer
  trusted = [issuer.did]
  signingKey ??= demoSigning
  log(`demo issuer ${issuer.did}`)
}
const engine = new Engine({
  policy: env.PASSGATE_POLICY || fileURLToPath(new URL('../mcp/demo-policy.json', import.meta.url)),
  trustedIssuers: trusted,
  signingKey,
  store,
})
log(`attestations signed by ${engine.signerDid}`)

const passportFile = flags['passport-file'] || env.PASSGATE_PASSPORT_FILE
let passport = passportFile ? readFileSync(passportFile, 'utf8').trim() : undefined
if (flags.http !== undefined && passport !== undefined) usage('over HTTP each agent sends its passport as its bearer: no --passport-file')
if (flags.role === 'agent' && passport === undefined && issuer && flags.http === undefined) {
  passport = issuer.issuePassport({ agentId: 'demo-agent', agentName: 'demo agent', permissions: ['payments:send', 'web:fetch'] }).token
  log('agent role: a demo passport for "demo-agent" (no --passport-file given)')
}
const operatorToken = env.PASSGATE_OPERATOR_TOKEN || undefined
const operatorName = env.PASSGATE_OPERATOR_NAME || 'operator'

/** Who sent a request: on stdio this server's role; over HTTP the request's bearer. */
function callerOf(extra) {
  const headers = extra?.requestInfo?.headers
  if (headers === undefined) return flags.role === 'agent' ? { role: 'agent', passport } : { role: 'operator' }
  const auth = String(headers.authorization ?? '')
  if (auth.slice(0, 7).toLowerCase() === 'bearer ') {
    const token = auth.slice(7).trim()
    const [given, wanted] = [Buffer.from(token), Buffer.from(operatorToken ?? '')]
    if (operatorToken && given.length === wanted.length && timingSafeEqual(given, wanted)) return { role: 'operator' }
    return { role: 'agent', passport: token }
  }
  return { role: 'agent' } // over the network, only a bearer names an agent
}

// ---- Two demo tools, each behind a gate: guard() runs the handler only when the engine allows
// ---- the call. The passport: the call's _meta one, else the connection's.
const text = (value) => ({ content: [{ type: 'text', text: JSON.stringify(value) }], structuredContent: value })
const connectionPassport = (_args, extra) => extra?._meta?.[PASSPORT_META] ?? callerOf(extra).passport
const demoTools = [
  {
    name: 'send_payment',
    gate: 'payments.send',
    description: 'Send a payment (demo: simulated, no money moves).',
    // withGuardArguments adds the optional passgate_approval / passgate_idempotency_key: a
    // desktop client (arguments only, no _meta) retries an escalated call with the approval.
    inputSchema: withGuardArguments({
      type: 'object',
      properties: { amount: { type: 'number' }, currency: { type: 'string' }, to: { type: 'string' } },
      required: ['amount', 'currency', 'to'],
    }),
    call: guard(
      engine,
      'payments.send',
      async ({ amount, currency, to }) => text({ status: 'sent', receipt: `rcpt_${randomUUID()}`, amount, currency, to }),
      { passport: connectionPassport },
    ),
  },
  {
    name: 'fetch_url',
    gate: 'web.fetch',
    description: 'Fetch a URL (demo: nothing is fetched).',
    inputSchema: withGuardArguments({ type: 'object', properties: { url: { type: 'string' } }, required: ['url'] }),
    call: guard(engine, 'web.fetch', async ({ url }) => text({ status: 'would fetch', url }), { passport: connectionPassport }),
  },
]

/** passgate's own tool `name`, called as `caller` (off the event loop). */
function passgateTool(caller, name, args) {
  const message = { jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name, arguments: args } }
  const operator = caller.role === 'operator' ? operatorName : undefined
  return handleAsync(engine, message, { ...caller, operator, issuer })
}

// ---- The MCP server: the low-level Server, because passgate's tools come with their own JSON
// ---- Schemas (McpServer.registerTool takes zod schemas).
function createServer() {
  const server = new Server(
    { name: 'passgate-example', version },
    { capabilities: { tools: {} } },
  )
  server.setRequestHandler(ListToolsRequestSchema, async (_request, extra) => {
    const caller = callerOf(extra)
    const own = tools(caller.role)
    if (caller.role !== 'agent') return { tools: own }
    // The guarded tools its passport may call, and only those.
    const reply = await passgateTool(caller, 'list_allowed_gates', {})
    const allowed = new Set(reply.result?.structuredContent?.gates ?? [])
    const guarded = demoTools.filter((t) => allowed.has(t.gate)).map(({ name, description, inputSchema }) => ({ name, description, inputSchema }))
    return { tools: [...own, ...guarded] }
  })
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const caller = callerOf(extra)
    const demo = demoTools.find((t) => t.name === request.params.name)
    if (demo) {
      if (caller.role !== 'agent') throw new Error(`${demo.name} is an agent's tool: call it with the agent's passport`)
      return demo.call(request.params.arguments ?? {}, extra)
    }
    const reply = await passgateTool(caller, request.params.name, request.params.arguments ?? {})
    if (reply.error) throw reply.error // an unknown tool: a JSON-RPC error
    return reply.result
  })
  return server
}

if (flags.http === undefined) {
  await createServer().connect(new StdioServerTransport())
  log(`serving the ${flags.role} role on stdio`)
} else {
  const port = Number(flags.http)
  if (!Number.isInteger(port) || port < 0 || port > 65535) usage(`bad port ${flags.http}`)
  // Stateless Streamable HTTP: a server and a transport per request; the engine (counters,
  // attestations) is shared. createMcpExpressApp checks the Host header (DNS rebinding).
  const app = createMcpExpressApp({ host: '127.0.0.1' })
  app.post('/mcp', async (req, res) => {
    if (Array.isArray(req.body)) {
      // MCP 2025-06-18 removed batches; a host checking each message could be bypassed by one.
      res.status(400).json({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'JSON-RPC batches are not accepted: send one message at a time' } })
      return
    }
    const server = createServer()
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    res.on('close', () => {
      transport.close()
      server.close()
    })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  })
  // Stateless: no server-initiated stream and no session to delete (Streamable HTTP: 405).
  for (const method of ['get', 'delete']) {
    app[method]('/mcp', (_req, res) => {
      res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Method not allowed: this server is stateless, POST only' } })
    })
  }
  const listener = app.listen(port, '127.0.0.1', () => log(`serving MCP on http://127.0.0.1:${listener.address().port}/mcp`))
}
