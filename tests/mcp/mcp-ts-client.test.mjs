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

for (const server of SERVERS) {
  describe(`MCP e2e over stdio: ${server.name} server`, () => {
    let client
    let stderr
    before(async () => {
      ;({ client, stderr } = await connect(server))
    })
    after(async () => {
      await client?.close()
    })

    let token
    let passportId
    const guardedCalls = []
    const pay = (amount, meta) => {
      guardedCalls.push('payments.send')
      return client.callTool({ name: 'send_payment', arguments: { amount, currency: 'USD', to: 'acme' }, ...(meta ? { _meta: meta } : {}) })
    }

    test('the demo issuer is logged on stderr, never on stdout', () => {
      // The client parsed every stdout line as JSON-RPC to get this far; the did went to stderr.
      assert.match(stderr(), /did:key:z6Mk/)
    })

    test('a. tools/list: the 17 passgate tools with the catalogue schemas, plus the two demo tools', async () => {
      const { tools } = await client.listTools()
      const byName = new Map(tools.map((t) => [t.name, t]))
      const expected = catalogue()
      assert.equal(expected.length, 17)
      assert.deepEqual([...byName.keys()].sort(), [...expected.map((t) => t.name), 'send_payment', 'fetch_url'].sort())
      for (const t of expected) {
        assert.deepEqual(byName.get(t.name).inputSchema, t.inputSchema, t.name)
        assert.equal(byName.get(t.name).description, t.description, t.name)
      }
      const pay = byName.get('send_payment').inputSchema
      assert.deepEqual(Object.keys(pay.properties).sort(), ['amount', 'currency', 'to'])
      assert.deepEqual([...pay.required].sort(), ['amount', 'currency', 'to'])
      assert.deepEqual(Object.keys(byName.get('fetch_url').inputSchema.properties), ['url'])
    })

    test('b. list_gates names both demo gates', async () => {
      const { gates } = json(await ok(client, 'list_gates', {}))
      assert.deepEqual(gates.map((g) => g.name).sort(), ['payments.send', 'web.fetch'])
    })

    test('c. issue_passport signs a passport with the demo issuer', async () => {
      const issued = json(await ok(client, 'issue_passport', { agent_id: 'agent-e2e', permissions: ['payments:send', 'web:fetch'] }))
      assert.equal(issued.agent_id, 'agent-e2e')
      assert.match(issued.passport_id, /^psp_/)
      assert.equal(issued.token.split('.').length, 3)
      ;({ token, passport_id: passportId } = issued)
    })

    test('d. send_payment with the passport in _meta is allowed and returns a receipt', async () => {
      const r = await pay(300, { [PASSPORT_META]: token })
      assert.notEqual(r.isError, true, JSON.stringify(r.content))
      assert.match(r.content[0].text, /receipt/i)
      assert.match(r.content[0].text, /300/)
    })

    test('e. send_payment without a passport is refused with the passport failure', async () => {
      const r = await pay(300)
      assert.equal(r.isError, true)
      const refusal = json(r)
      assert.equal(refusal.decision, 'deny')
      assert.equal(refusal.gate, 'payments.send')
      assert.match(refusal.evaluation_id, /^evl_/)
      assert.ok(refusal.checks.length > 0 && refusal.checks.every((c) => c.passed === false), JSON.stringify(refusal))
      const check = failed(refusal, 'passport')
      assert.ok(check, JSON.stringify(refusal))
      assert.match(check.code, /^PASSPORT_/)
      assert.equal('approval_request' in refusal, false)
    })

    test('f. 300 + 300 more (900 today) pass; 200 more is refused by daily-spend', async () => {
      for (const amount of [300, 300]) {
        const r = await pay(amount, { [PASSPORT_META]: token })
        assert.notEqual(r.isError, true, JSON.stringify(r.content))
      }
      const r = await pay(200, { [PASSPORT_META]: token })
      assert.equal(r.isError, true)
      const refusal = json(r)
      assert.equal(refusal.decision, 'deny')
      const check = failed(refusal, 'daily-spend')
      assert.ok(check, JSON.stringify(refusal))
      assert.equal(check.type, 'spend_limit')
      assert.equal(check.limit, '1000')
      assert.deepEqual(refusal.checks.map((c) => c.constraint), ['daily-spend'])
    })

    test('g. after revoke_passport, the passport is refused with PASSPORT_REVOKED', async () => {
      await ok(client, 'revoke_passport', { passport_id: passportId })
      const r = await pay(10, { [PASSPORT_META]: token })
      assert.equal(r.isError, true)
      assert.equal(failed(json(r), 'passport')?.code, 'PASSPORT_REVOKED', r.content[0].text)
    })

    test('h. fetch_url: an allowed host passes, another is refused by hosts', async () => {
      const fresh = json(await ok(client, 'issue_passport', { agent_id: 'agent-e2e', permissions: ['payments:send', 'web:fetch'] }))
      const meta = { [PASSPORT_META]: fresh.token }
      guardedCalls.push('web.fetch', 'web.fetch')
      const allowed = await ok(client, 'fetch_url', { url: 'https://example.com/x' }, meta)
      assert.match(allowed.content[0].text, /example\.com\/x/)
      const refusal = await refused(client, 'fetch_url', { url: 'https://evil.test/' }, meta)
      assert.equal(refusal.gate, 'web.fetch')
      assert.deepEqual(refusal.checks.map((c) => c.constraint), ['hosts'])
    })

    test('i. get_attestations: one signed decision per guarded call, each verifies, and the chain verifies', async () => {
      const { attestations } = json(await ok(client, 'get_attestations', {}))
      const decisions = attestations.filter((r) => r.body.kind === 'decision')
      assert.equal(guardedCalls.length, 8)
      assert.deepEqual(decisions.map((r) => r.body.gate), guardedCalls)
      assert.deepEqual(
        decisions.map((r) => r.body.decision),
        ['allow', 'deny', 'allow', 'allow', 'deny', 'deny', 'allow', 'deny'],
      )
      for (const record of decisions) {
        const v = json(await ok(client, 'verify_attestation', { record }))
        assert.equal(v.valid, true)
      }
      const tampered = structuredClone(decisions[0])
      tampered.body.decision = 'deny'
      await refused(client, 'verify_attestation', { record: tampered })
      // Every record, by chain, in seq order, against the key that signed it.
      const chains = new Map()
      for (const r of attestations) chains.set(r.body.chain, [...(chains.get(r.body.chain) ?? []), r])
      assert.ok(chains.size >= 1)
      for (const records of chains.values()) {
        records.sort((a, b) => a.body.seq - b.body.seq)
        assert.equal(new Set(records.map((r) => r.kid)).size, 1)
        assert.equal(verifyChain(records, records[0].kid), true)
        // A dropped record breaks it.
        if (records.length > 2) assert.throws(() => verifyChain([records[0], ...records.slice(2)], records[0].kid), { code: 'CHAIN_GAP' })
      }
    })

    test('j. a malformed call is a protocol or tool error naming the JSON path, and the server lives on', async () => {
      let message
      try {
        const r = await client.callTool({ name: 'enforce_action', arguments: { gate: 42, payload: 'not an object' } })
        assert.equal(r.isError, true, JSON.stringify(r))
        message = r.content[0].text
      } catch (e) {
        assert.equal(e.code, -32602, String(e))
        message = e.message
      }
      assert.match(message, /\/gate|\/payload/)
      // Wrong types for a demo tool never reach its handler either.
      const r = await client.callTool({ name: 'send_payment', arguments: { amount: 'lots', currency: 'USD', to: 'x' }, _meta: { [PASSPORT_META]: token } })
      assert.equal(r.isError, true)
      assert.doesNotMatch(r.content[0].text, /receipt/i)
      await client.ping()
    })
  })

  test(`${server.name} server: with PASSGATE_TRUSTED_ISSUERS set, issue_passport answers with an error`, async () => {
    const trusted = Issuer.generate()
    const { client } = await connect(server, { PASSGATE_TRUSTED_ISSUERS: trusted.did })
    try {
      const r = await client.callTool({ name: 'issue_passport', arguments: { agent_id: 'a', permissions: ['payments:send'] } })
      assert.equal(r.isError, true)
      assert.match(json(r).error.code, /^[A-Z_]+$/)
      // A passport from the configured issuer is accepted.
      const p = trusted.issuePassport({ agentId: 'a', permissions: ['payments:send'] })
      const paid = await client.callTool({ name: 'send_payment', arguments: { amount: 5, currency: 'EUR', to: 'b' }, _meta: { [PASSPORT_META]: p.token } })
      assert.notEqual(paid.isError, true, JSON.stringify(paid.content))
    } finally {
      await client.close()
    }
  })
}

test('node server over Streamable HTTP (--http): list tools and one guarded call', async () => {
  const child = spawn(process.execPath, [join(root, 'examples', 'node', 'mcp-server.mjs'), '--http', '0'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] })
  try {
    let log = ''
    const url = await new Promise((resolve, reject) => {
      child.stderr.on('data', (chunk) => {
        log += chunk
        const m = log.match(/serving MCP on (http:\/\/127\.0\.0\.1:\d+\/mcp)/)
        if (m) resolve(m[1])
      })
      child.on('exit', (code) => reject(new Error(`server exited (${code}): ${log}`)))
    })
    const client = new Client({ name: 'passgate-e2e-http', version: '0.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url)))
    try {
      const { tools } = await client.listTools()
      assert.equal(tools.length, 19)
      const issued = json(await ok(client, 'issue_passport', { agent_id: 'agent-http', permissions: ['payments:send'] }))
      const r = await ok(client, 'send_payment', { amount: 12.5, currency: 'EUR', to: 'acme' }, { [PASSPORT_META]: issued.token })
      assert.match(r.content[0].text, /receipt/i)
      const refusal = await refused(client, 'send_payment', { amount: 501, currency: 'EUR', to: 'acme' }, { [PASSPORT_META]: issued.token })
      assert.deepEqual(refusal.checks.map((c) => c.constraint), ['per-call'])
    } finally {
      await client.close()
    }
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
  assert.deepEqual(JSON.parse(refused.content[0].text).checks.map((c) => c.constraint), ['per-call'])
})
