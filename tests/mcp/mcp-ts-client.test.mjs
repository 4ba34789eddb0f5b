// End to end: the official TypeScript MCP client (@modelcontextprotocol/sdk, resolved from
// examples/node, where `make demo` / `make test-mcp-node` install it) against passgate's example
// MCP servers, spawned over stdio. The scenario speaks only MCP on the wire, so it runs unchanged
// against every server in SERVERS (the Python one shares it).
//
// Run: `make test-mcp-node` (or `node --test tests/mcp/` after `make demo`).
import { test, describe, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { verifyChain } from '../../bindings-node/passgate.mjs'
import { tools as catalogue, guard } from '../../bindings-node/mcp.mjs'
import { Engine, Issuer } from '../../bindings-node/passgate.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const sdk = createRequire(join(root, 'examples', 'node', 'package.json'))
const { Client } = sdk('@modelcontextprotocol/sdk/client/index.js')
const { StdioClientTransport } = sdk('@modelcontextprotocol/sdk/client/stdio.js')
const { StreamableHTTPClientTransport } = sdk('@modelcontextprotocol/sdk/client/streamableHttp.js')
const { McpServer } = sdk('@modelcontextprotocol/sdk/server/mcp.js')
const { InMemoryTransport } = sdk('@modelcontextprotocol/sdk/inMemory.js')
const { z } = sdk('zod')

/** The servers under test: each speaks MCP on stdio with the demo policy and a demo issuer. */
const SERVERS = [
  { name: 'node', command: process.execPath, args: [join(root, 'examples', 'node', 'mcp-server.mjs')] },
  { name: 'python', command: join(root, '.venv', 'bin', 'python'), args: [join(root, 'examples', 'python', 'mcp_server.py')] },
]

const PASSPORT_META = 'passgate/passport'

/** Starts `server` with `env` (added to PATH/HOME) and connects the official client to it. */
async function connect(server, env = {}) {
  const transport = new StdioClientTransport({
    command: server.command,
    args: server.args,
    cwd: root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stderr: 'pipe',
  })
  let stderr = ''
  transport.stderr?.on('data', (chunk) => {
    stderr += chunk
  })
  const client = new Client({ name: 'passgate-e2e', version: '0.0.0' })
  await client.connect(transport)
  return { client, stderr: () => stderr }
}

/** The JSON in a tool result's one text item. An SDK may prefix an error result's text (Python's
 * `mcp`: "Error executing tool NAME: "): the JSON starts at the first brace. */
function json(result) {
  assert.equal(result.content.length, 1, JSON.stringify(result))
  assert.equal(result.content[0].type, 'text')
  const text = result.content[0].text
  return JSON.parse(result.isError ? text.slice(text.indexOf('{')) : text)
}

/** Calls `name` and asserts the result is not an error; returns its JSON. */
async function ok(client, name, args, meta) {
  const r = await client.callTool({ name, arguments: args, ...(meta ? { _meta: meta } : {}) })
  assert.notEqual(r.isError, true, `${name} failed: ${JSON.stringify(r.content)}`)
  return r
}

/** Calls `name` and asserts an error result; returns its JSON. */
async function refused(client, name, args, meta) {
  const r = await client.callTool({ name, arguments: args, ...(meta ? { _meta: meta } : {}) })
  assert.equal(r.isError, true, `${name} should have been refused: ${JSON.stringify(r.content)}`)
  return json(r)
}

const failed = (refusal, constraint) => refusal.checks.find((c) => c.constraint === constraint)

const AGENT_TOOLS = ['authorize_dry_run', 'discover_services', 'enforce_action', 'evaluate', 'get_catalog', 'get_evaluation', 'list_allowed_gates', 'list_my_evaluations', 'verify_passport']
const GUARDED = ['fetch_url', 'send_payment']

for (const server of SERVERS) {
  // The documented desktop configuration, driven as Claude Desktop / Cursor drive a server:
  // arguments only, no _meta. The agent's server has its passport from a file; the operator's own
  // server (same SQLite store) issues, approves and audits.
  describe(`MCP e2e over stdio, agent and operator roles: ${server.name} server`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'passgate-e2e-'))
    const signer = Issuer.generate()
    const env = { PASSGATE_STORE: `sqlite://${join(dir, 'store.db')}`, PASSGATE_SIGNING_SECRET: signer.secret }
    let operator
    let agent
    let stderr
    let issued
    before(async () => {
      ;({ client: operator, stderr } = await connect({ ...server, args: [...server.args, '--role', 'operator'] }, env))
    })
    after(async () => {
      await agent?.close()
      await operator?.close()
      rmSync(dir, { recursive: true, force: true })
    })
    const pay = (amount, extra = {}) =>
      agent.callTool({ name: 'send_payment', arguments: { amount, currency: 'USD', to: 'acme', ...extra } })

    test('the demo issuer is logged on stderr, never on stdout', () => {
      assert.match(stderr(), /did:key:z6Mk/)
    })

    test('a. the operator lists every passgate tool (titles, annotations, the catalogue schemas) and no guarded tool', async () => {
      const { tools } = await operator.listTools()
      const expected = catalogue('operator')
      assert.equal(expected.length, 77)
      assert.deepEqual(tools.map((t) => t.name).sort(), expected.map((t) => t.name).sort())
      const byName = new Map(tools.map((t) => [t.name, t]))
      for (const t of expected) {
        assert.deepEqual(byName.get(t.name).inputSchema, t.inputSchema, t.name)
        assert.equal(typeof byName.get(t.name).annotations.readOnlyHint, 'boolean', t.name)
        assert.ok(byName.get(t.name).title, t.name)
      }
      const { gates } = json(await ok(operator, 'list_gates', {}))
      assert.deepEqual(gates.map((g) => g.name).sort(), ['payments.send', 'web.fetch'])
    })

    test('b. the operator issues a passport; the agent server starts with it from a file', async () => {
      issued = json(await ok(operator, 'issue_passport', { agent_id: 'agent-e2e', permissions: ['payments:send', 'web:fetch'] }))
      assert.match(issued.passport_id, /^psp_/)
      const file = join(dir, 'agent.passport')
      writeFileSync(file, issued.token)
      ;({ client: agent } = await connect({ ...server, args: [...server.args, '--passport-file', file] }, env))
      const { tools } = await agent.listTools()
      assert.deepEqual(tools.map((t) => t.name).sort(), [...AGENT_TOOLS, ...GUARDED].sort())
    })

    test('c. operator tools are refused to the agent by role', async () => {
      for (const [name, args] of [['reset_cumulative_state', {}], ['approve', { evaluation_id: 'x' }], ['issue_passport', { agent_id: 'me', permissions: ['*'] }], ['get_attestations', {}]]) {
        const refusal = await refused(agent, name, args)
        assert.equal(refusal.error.code, 'FORBIDDEN', name)
        assert.match(refusal.error.message, /operator/)
      }
    })

    test('d. allowed with the server-side passport; escalated; approved by the operator; the retry allowed once', async () => {
      const r = await pay(300)
      assert.notEqual(r.isError, true, JSON.stringify(r.content))
      assert.match(r.content[0].text, /receipt/i)
      const escalation = json(await pay(450))
      assert.equal(escalation.decision, 'escalate')
      assert.ok(escalation.approval_request)
      assert.equal((await refused(agent, 'approve', { evaluation_id: escalation.evaluation_id })).error.code, 'FORBIDDEN')
      const { approval } = json(await ok(operator, 'approve', { evaluation_id: escalation.evaluation_id }))
      const retried = await pay(450, { passgate_approval: approval })
      assert.notEqual(retried.isError, true, JSON.stringify(retried.content))
      const again = await pay(450, { passgate_approval: approval })
      assert.equal(again.isError, true)
    })

    test('e. 750 today: 200 more pass, 100 more are refused by daily-spend; enforce_action answers a deny as a result', async () => {
      assert.notEqual((await pay(200)).isError, true)
      const refusal = json(await pay(100))
      assert.deepEqual(refusal.checks.map((c) => c.constraint), ['daily-spend'])
      assert.equal(failed(refusal, 'daily-spend').limit, '1000')
      const dry = await ok(agent, 'authorize_dry_run', { gate: 'payments.send', payload: { amount: 100, currency: 'USD', to: 'a' } })
      assert.equal(json(dry).decision, 'deny')
      const { evaluations } = json(await ok(agent, 'list_my_evaluations', {}))
      assert.deepEqual([...new Set(evaluations.map((e) => e.body.agent_id))], ['agent-e2e'])
    })

    test('f. revoked by the operator: the agent is refused with PASSPORT_REVOKED', async () => {
      await ok(operator, 'revoke_passport', { passport_id: issued.passport_id })
      assert.equal(failed(json(await pay(10)), 'passport')?.code, 'PASSPORT_REVOKED')
    })

    test('g. the operator audits: every decision signed, each chain verifies', async () => {
      const { attestations } = json(await ok(operator, 'get_attestations', {}))
      const decisions = attestations.filter((r) => r.body.kind === 'decision')
      assert.deepEqual(decisions.map((r) => r.body.decision), ['allow', 'escalate', 'allow', 'deny', 'allow', 'deny', 'deny'])
      const v = json(await ok(operator, 'verify_attestation', { record: decisions[0] }))
      assert.equal(v.valid, true)
      const chains = new Map()
      for (const r of attestations) chains.set(r.body.chain, [...(chains.get(r.body.chain) ?? []), r])
      for (const records of chains.values()) {
        records.sort((a, b) => a.body.seq - b.body.seq)
        assert.equal(verifyChain(records, signer.did), true)
      }
    })

    test('h. bad arguments to a passgate tool are an error result naming the JSON path; the server lives on', async () => {
      const r = await agent.callTool({ name: 'enforce_action', arguments: { gate: 42, payload: 'not an object' } })
      assert.equal(r.isError, true, JSON.stringify(r))
      assert.match(r.content[0].text, /\/gate|\/payload/)
      const bad = await agent.callTool({ name: 'send_payment', arguments: { amount: 'lots', currency: 'USD', to: 'x' } })
      assert.equal(bad.isError, true)
      assert.doesNotMatch(bad.content[0].text, /receipt/i)
      await agent.ping()
    })
  })

  test(`${server.name} server: with PASSGATE_TRUSTED_ISSUERS set, issue_passport answers with an error`, async () => {
    const trusted = Issuer.generate()
    const { client } = await connect({ ...server, args: [...server.args, '--role', 'operator'] }, { PASSGATE_TRUSTED_ISSUERS: trusted.did })
    try {
      const r = await client.callTool({ name: 'issue_passport', arguments: { agent_id: 'a', permissions: ['payments:send'] } })
      assert.equal(r.isError, true)
      assert.match(json(r).error.code, /^[A-Z_]+$/)
    } finally {
      await client.close()
    }
    // A passport from the configured issuer is accepted (in _meta, as a programmatic client sends it).
    const { client: agent } = await connect(server, { PASSGATE_TRUSTED_ISSUERS: trusted.did })
    try {
      const p = trusted.issuePassport({ agentId: 'a', permissions: ['payments:send'] })
      const paid = await agent.callTool({ name: 'send_payment', arguments: { amount: 5, currency: 'EUR', to: 'b' }, _meta: { [PASSPORT_META]: p.token } })
      assert.notEqual(paid.isError, true, JSON.stringify(paid.content))
    } finally {
      await agent.close()
    }
  })
}

test('node server over Streamable HTTP (--http): roles by bearer, GET/DELETE 405, batches refused', async () => {
  const operatorToken = `op-${Issuer.generate().secret.slice(0, 24)}`
  const child = spawn(process.execPath, [join(root, 'examples', 'node', 'mcp-server.mjs'), '--http', '0'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PASSGATE_OPERATOR_TOKEN: operatorToken },
  })
  const connectAs = async (bearer) => {
    const client = new Client({ name: 'passgate-e2e-http', version: '0.0.0' })
    const requestInit = bearer ? { headers: { Authorization: `Bearer ${bearer}` } } : undefined
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit }))
    return client
  }
  let url
  try {
    let log = ''
    url = await new Promise((resolve, reject) => {
      child.stderr.on('data', (chunk) => {
        log += chunk
        const m = log.match(/serving MCP on (http:\/\/127\.0\.0\.1:\d+\/mcp)/)
        if (m) resolve(m[1])
      })
      child.on('exit', (code) => reject(new Error(`server exited (${code}): ${log}`)))
    })
    const operator = await connectAs(operatorToken)
    let token
    try {
      assert.equal((await operator.listTools()).tools.length, 77)
      token = json(await ok(operator, 'issue_passport', { agent_id: 'agent-http', permissions: ['payments:send'] })).token
    } finally {
      await operator.close()
    }
    const agent = await connectAs(token)
    try {
      assert.deepEqual((await agent.listTools()).tools.map((t) => t.name).sort(), [...AGENT_TOOLS, 'send_payment'].sort())
      const r = await ok(agent, 'send_payment', { amount: 12.5, currency: 'EUR', to: 'acme' })
      assert.match(r.content[0].text, /receipt/i)
      // Over 500: per-call fails (and over 400 needs an approval, which a deny does not reach).
      assert.deepEqual((await refused(agent, 'send_payment', { amount: 501, currency: 'EUR', to: 'acme' })).checks.map((c) => c.constraint), ['per-call', 'large'])
      assert.equal((await refused(agent, 'get_cumulative_state', {})).error.code, 'FORBIDDEN')
    } finally {
      await agent.close()
    }
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(url, { method, headers: { Accept: 'text/event-stream' } })
      assert.equal(res.status, 405, method)
    }
    const batch = [1, 2].map((id) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'send_payment', arguments: { amount: 1, currency: 'EUR', to: 'b' } } }))
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', Authorization: `Bearer ${token}` },
      body: JSON.stringify(batch),
    })
    assert.equal(res.status, 400)
    assert.equal((await res.json()).error.code, -32600)
  } finally {
    child.kill()
  }
})

test('guard() with McpServer.registerTool: the passport travels in _meta to the callback extra', async () => {
  const issuer = Issuer.generate()
  const engine = new Engine({
    policy: { version: 1, gates: { 'notes.write': { require: ['notes:write'], constraints: [{ id: 'short', type: 'max_length', field: '/text', max: 10 }] } } },
    trustedIssuers: [issuer.did],
  })
  const written = []
  const server = new McpServer({ name: 'guarded', version: '0.0.0' })
  server.registerTool(
    'write_note',
    { description: 'Write a note', inputSchema: { text: z.string() } },
    guard(engine, 'notes.write', async ({ text }, extra) => {
      written.push([text, typeof extra.requestId])
      return { content: [{ type: 'text', text: `wrote ${text}` }] }
    }),
  )
  const [a, b] = InMemoryTransport.createLinkedPair()
  await server.connect(a)
  const client = new Client({ name: 'c', version: '0.0.0' })
  await client.connect(b)
  try {
    const token = issuer.issuePassport({ agentId: 'writer', permissions: ['notes:write'] }).token
    const r = await client.callTool({ name: 'write_note', arguments: { text: 'hi' }, _meta: { [PASSPORT_META]: token } })
    assert.deepEqual(r.content, [{ type: 'text', text: 'wrote hi' }])
    const long = await client.callTool({ name: 'write_note', arguments: { text: 'far too long a note' }, _meta: { [PASSPORT_META]: token } })
    assert.equal(long.isError, true)
    assert.deepEqual(json(long).checks.map((c) => c.constraint), ['short'])
    const anon = await client.callTool({ name: 'write_note', arguments: { text: 'hi' } })
    assert.equal(anon.isError, true)
    assert.equal(json(anon).checks[0].constraint, 'passport')
    assert.deepEqual(written, [['hi', 'number']])
    // The attestation records the MCP request id as trace.
    const [first] = engine.attestations({ decision: 'allow' })
    assert.match(first.body.trace.mcp_request_id, /^\d+$/)
  } finally {
    await client.close()
  }
})

test("bindings-node/README.md's MCP snippet runs under the SDK", async () => {
  const { readFileSync } = await import('node:fs')
  const { execFileSync } = await import('node:child_process')
  const readme = readFileSync(join(root, 'bindings-node', 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## MCP'))
  const start = section.indexOf('```js') + 5
  const snippet = section.slice(start, section.indexOf('```', start))
  assert.match(snippet, /guard\(engine, 'payments.send'/)
  const policy = join(root, 'examples', 'mcp', 'demo-policy.json')
  const drive = `
const { InMemoryTransport } = await import('@modelcontextprotocol/sdk/inMemory.js')
const { Client } = await import('@modelcontextprotocol/sdk/client/index.js')
const { Issuer } = await import('passgate')
const [a, b] = InMemoryTransport.createLinkedPair()
await server.connect(a)
const client = new Client({ name: 'readme', version: '0' })
await client.connect(b)
const token = Issuer.fromSecret(process.env.ISSUER_SECRET).issuePassport({ agentId: 'x', permissions: ['payments:send'] }).token
const call = (amount) => client.callTool({ name: 'send_payment', arguments: { amount, currency: 'USD', to: 'bob' }, _meta: { 'passgate/passport': token } })
console.log(JSON.stringify([await call(5), await call(900)]))
await client.close()
`
  const issuer = Issuer.generate()
  const code = snippet.replace("'./policy.json'", JSON.stringify(policy)) + drive
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: join(root, 'examples', 'node'),
    env: { ...process.env, ISSUER_DID: issuer.did, ISSUER_SECRET: issuer.secret },
  }).toString()
  const [paid, refused] = JSON.parse(out)
  assert.deepEqual(paid.content, [{ type: 'text', text: 'sent 5 USD to bob' }])
  assert.equal(refused.isError, true)
  assert.deepEqual(JSON.parse(refused.content[0].text).checks.map((c) => c.constraint), ['per-call', 'large'])
})
