// passgate's MCP endpoint over Streamable HTTP, in a few lines: Node's `http` + passgate/gateway.
//
// The gateway (Rust, in the core) serves passgate's own tools at /mcp: a passport as
// `Authorization: Bearer` gets the agent tools, an API key (`pgk_…`, bearer or `x-api-key`) the
// tools of its scopes, anything else a 401 pointing at /.well-known/oauth-protected-resource.
// In Express: `app.use(createHandler(gateway))` before any JSON body parser.
//
//   node examples/node/gateway-server.mjs 8080
//
// Environment: PASSGATE_POLICY (default examples/mcp/demo-policy.json), PASSGATE_STORE (default
// memory:), PASSGATE_TRUSTED_ISSUERS (comma-separated did:key), PASSGATE_SIGNING_SECRET, and the
// gateway's PASSGATE_MCP_ALLOWED_ORIGINS / _RESOURCE / _AUTHORIZATION_SERVERS / _ALLOW_ANONYMOUS.
// With no API key in the store, one admin key is created and printed once on stderr.
import http from 'node:http'
import { fileURLToPath } from 'node:url'

import { Engine } from 'passgate'
import { Gateway, createHandler } from 'passgate/gateway'

const env = process.env
const engine = new Engine({
  policy: env.PASSGATE_POLICY || fileURLToPath(new URL('../mcp/demo-policy.json', import.meta.url)),
  trustedIssuers: (env.PASSGATE_TRUSTED_ISSUERS || '').split(',').filter(Boolean),
  ...(env.PASSGATE_SIGNING_SECRET ? { signingKey: env.PASSGATE_SIGNING_SECRET } : {}),
  store: env.PASSGATE_STORE || 'memory:',
})
if (engine.listApiKeys().length === 0) {
  const scopes = ['decide', 'read:attestations', 'admin:passports', 'admin:policy', 'admin:counters', 'approve', 'admin:keys']
  const key = engine.createApiKey({ name: 'admin (created by gateway-server.mjs)', scopes })
  console.error(`passgate: admin API key (shown once): ${key.secret}`)
}
const port = Number(process.argv[2] || 8080)
http.createServer(createHandler(new Gateway(engine, { fromEnv: true }))).listen(port, '127.0.0.1', () => {
  console.error(`passgate: MCP endpoint http://127.0.0.1:${port}/mcp`)
})
