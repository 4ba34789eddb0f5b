// End to end: `passgate mcp serve --http` (the command's own HTTP/1.1 listener, one request per
// connection) in demo mode, driven by the official TypeScript MCP client over Streamable HTTP.
//
// Run: `node --test tests/mcp/cli-http-ts-client.test.mjs` after `make python-package` (the
// command: .venv/bin/passgate) and `make node-examples` (the SDK).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import net from 'node:net'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const sdk = createRequire(join(root, 'examples', 'node', 'package.json'))
const { Client } = sdk('@modelcontextprotocol/sdk/client/index.js')
const { StreamableHTTPClientTransport } = sdk('@modelcontextprotocol/sdk/client/streamableHttp.js')

const PASSGATE = join(root, '.venv', 'bin', 'passgate')
const AGENT_TOOLS = ['enforce_action', 'authorize_dry_run', 'verify_passport', 'list_allowed_gates', 'list_my_evaluations']

async function freePort () {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

// Starts the demo server; resolves with its URL and the demo admin key once it listens.
async function serve () {
  const port = await freePort()
  const child = spawn(PASSGATE, ['mcp', 'serve', '--http', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] })
  let text = ''
  const key = await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`the server exited (${code}): ${text}`)))
    child.stderr.on('data', (chunk) => {
      text += chunk
      if (text.includes('MCP on http://')) resolve(/pgk_[A-Za-z0-9_-]+/.exec(text)?.[0])
    })
  })
  child.stderr.resume()
  return { url: `http://127.0.0.1:${port}/mcp`, key, child }
}

async function connect (url, bearer) {
  const client = new Client({ name: 'ts-cli-http-test', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(new URL(url), {
    requestInit: { headers: { Authorization: `Bearer ${bearer}` } },
  }))
  return client
}

const structured = (r) => {
  assert.equal(r.isError, false, JSON.stringify(r))
  return JSON.parse(r.content[0].text)
}

test('the official TypeScript client through passgate mcp serve --http', async () => {
  const { url, key, child } = await serve()
  try {
    assert.ok(key, 'the demo admin key is printed')
    const op = await connect(url, key)
    const names = new Set((await op.listTools()).tools.map((t) => t.name))
    for (const t of ['reset_cumulative_state', 'issue_passport', 'create_api_key', ...AGENT_TOOLS]) {
      assert.ok(names.has(t), t)
    }
    assert.deepEqual(structured(await op.callTool({ name: 'reset_cumulative_state', arguments: {} })), { reset: 0 })
    // The demo issuer is trusted and is the operator's: its passport is an agent's bearer.
    const issued = structured(await op.callTool({
      name: 'issue_passport', arguments: { agent_id: 'ts-agent', permissions: ['payments:send'] },
    }))
    await op.close()

    const agent = await connect(url, issued.token)
    const agentNames = new Set((await agent.listTools()).tools.map((t) => t.name))
    for (const t of AGENT_TOOLS) assert.ok(agentNames.has(t), t)
    assert.ok(!agentNames.has('reset_cumulative_state'))
    const r = structured(await agent.callTool({
      name: 'enforce_action',
      arguments: { gate: 'payments.send', payload: { amount: 20, currency: 'USD', to: 'acct_1' } },
    }))
    assert.equal(r.decision, 'allow')
    assert.equal(r.agent_id, 'ts-agent')
    assert.equal((await agent.callTool({ name: 'reset_cumulative_state', arguments: {} })).isError, true)
    await agent.close()

    const resp = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    })
    assert.equal(resp.status, 401)
    assert.match(resp.headers.get('www-authenticate'), /^Bearer resource_metadata="/)
  } finally {
    child.kill('SIGINT')
  }
})
