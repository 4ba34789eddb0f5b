// End to end: passgate's HTTP gateway (`passgate/gateway`: the native Gateway and createHandler)
// on a Node `http` server, driven by the official TypeScript MCP client over Streamable HTTP.
//
// Run: `node --test tests/mcp/gateway-ts-client.test.mjs` after `make node-examples`.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import http from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { Engine, Issuer } from '../../bindings-node/passgate.mjs'
import { Gateway, createHandler } from '../../bindings-node/gateway.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const sdk = createRequire(join(root, 'examples', 'node', 'package.json'))
const { Client } = sdk('@modelcontextprotocol/sdk/client/index.js')
const { StreamableHTTPClientTransport } = sdk('@modelcontextprotocol/sdk/client/streamableHttp.js')

const POLICY = {
  version: 1,
  gates: {
    'payments.send': {
      require: ['pay'],
      constraints: [{ id: 'cap', type: 'spend_limit', field: '/amount', max: 100, window: '1d' }],
    },
  },
}
const JSON_SSE = 'application/json, text/event-stream'

async function serve (gateway) {
  const server = http.createServer(createHandler(gateway))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${server.address().port}`
  return { base, close: () => new Promise((resolve) => server.close(resolve)) }
}

test('the official TypeScript client through the gateway', async () => {
  const issuer = Issuer.generate()
  const engine = new Engine({ policy: POLICY, trustedIssuers: [issuer.did] })
  const token = issuer.issuePassport({ agentId: 'agent-ts', permissions: ['pay'] }).token
  const gateway = new Gateway(engine, { allowedOrigins: ['https://app.example.com'] })
  const { base, close } = await serve(gateway)
  const url = `${base}/mcp`
  try {
    const client = new Client({ name: 'ts-gateway-test', version: '1.0.0' })
    await client.connect(new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${token}` } },
    }))
    const names = new Set((await client.listTools()).tools.map((t) => t.name))
    assert.ok(names.has('enforce_action') && !names.has('reset_cumulative_state'))
    const r = await client.callTool({ name: 'enforce_action', arguments: { gate: 'payments.send', payload: { amount: 30 } } })
    assert.equal(r.isError, false)
    assert.equal(JSON.parse(r.content[0].text).decision, 'allow')
    await client.close()

    const [record] = engine.attestations({ kind: 'decision' })
    const trace = record.body.trace
    assert.equal(trace.gateway, 'passgate')
    assert.equal(trace.mcp_client_name, 'ts-gateway-test')
    assert.match(trace.mcp_session_id, /^mcs_/)

    const ping = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' })
    let res = await fetch(url, { method: 'POST', body: ping, headers: { 'Content-Type': 'application/json', Accept: JSON_SSE } })
    assert.equal(res.status, 401)
    assert.match(res.headers.get('www-authenticate'), /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource"/)
    res = await fetch(url, { method: 'POST', body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), headers: { 'Content-Type': 'application/json', Accept: JSON_SSE } })
    assert.equal(res.status, 202)
    assert.equal((await res.arrayBuffer()).byteLength, 0)
    const auth = { 'Content-Type': 'application/json', Accept: JSON_SSE, Authorization: `Bearer ${token}` }
    res = await fetch(url, { method: 'POST', body: ping, headers: { ...auth, Origin: 'https://evil.example.com' } })
    assert.equal(res.status, 403)
    res = await fetch(url, { method: 'POST', body: `[${ping}]`, headers: auth })
    assert.equal(res.status, 400)
    assert.equal((await res.json()).error.code, -32600)
    res = await fetch(url, { method: 'GET', headers: auth })
    assert.equal(res.status, 405)

    // An operator key: the operator tools; revoked, a 401 at once.
    const key = engine.createApiKey({ name: 'ops', scopes: ['admin:counters', 'read:attestations'] })
    const operator = new Client({ name: 'ts-operator', version: '1.0.0' })
    await operator.connect(new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${key.secret}` } },
    }))
    const opNames = new Set((await operator.listTools()).tools.map((t) => t.name))
    assert.ok(opNames.has('reset_cumulative_state') && opNames.has('get_attestations'))
    assert.ok(!opNames.has('issue_passport') && !opNames.has('create_api_key'))
    const reset = await operator.callTool({ name: 'reset_cumulative_state', arguments: { gate: 'payments.send' } })
    assert.equal(reset.isError, false, JSON.stringify(reset))
    await operator.close()
    engine.revokeApiKey(key.id)
    res = await fetch(url, { method: 'POST', body: ping, headers: { ...auth, Authorization: `Bearer ${key.secret}` } })
    assert.equal(res.status, 401)
    assert.match(res.headers.get('www-authenticate'), /error="invalid_token"/)
  } finally {
    await close()
  }
})

test('a body already parsed by a JSON body parser is a configuration error, never re-serialized', async () => {
  const engine = new Engine({ policy: POLICY })
  const handler = createHandler(new Gateway(engine, { allowAnonymous: true }))
  // As express.json() leaves it: the stream read, the body an object (a duplicate key already lost).
  const req = { method: 'POST', url: '/mcp', rawHeaders: ['Content-Type', 'application/json'], readableEnded: true, body: { jsonrpc: '2.0', id: 1, method: 'ping' } }
  const err = await new Promise((resolve) => handler(req, {}, resolve))
  assert.ok(err instanceof TypeError && /raw body/.test(err.message), String(err))
})
