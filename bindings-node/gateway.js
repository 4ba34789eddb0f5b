'use strict'
// passgate/gateway (CommonJS entry): passgate's MCP endpoint over Streamable HTTP for Node's
// `http` server and Express. The work is the core's (`Gateway`, Rust): Origin allow-list,
// authentication (a passport or API key as `Authorization: Bearer`, or `x-api-key`), Accept /
// Content-Type checks, JSON-RPC batches refused, 202 for notifications, `Mcp-Session-Id`
// sessions, the gateway's trace fields in every evaluation, and
// `/.well-known/oauth-protected-resource`. This file only moves bytes.
//
//   const { Engine } = require('passgate')
//   const { Gateway, createHandler } = require('passgate/gateway')
//   const handler = createHandler(new Gateway(engine, { allowedOrigins: ['https://app.example.com'] }))
//   http.createServer(handler).listen(8080)          // MCP endpoint: http://localhost:8080/mcp
//   app.use(handler)                                  // or as Express middleware

const { Gateway } = require('./passgate.js')

const METADATA_PATH = '/.well-known/oauth-protected-resource'

/** Reads the body, up to `limit + 1` bytes (a larger body is answered 413 by the core). */
function readBody (req, limit) {
  // A body already read by a body parser (express.raw / express.text / express.json).
  if (Buffer.isBuffer(req.body)) return Promise.resolve(req.body)
  if (typeof req.body === 'string') return Promise.resolve(Buffer.from(req.body, 'utf8'))
  // A body already parsed (express.json) has lost what the core's strict parser refuses
  // (duplicate keys, exact numbers): never re-serialized, a configuration error instead.
  if (req.body !== undefined && req.body !== null && req.readableEnded) {
    return Promise.reject(new TypeError(
      'passgate/gateway needs the raw body: mount it before express.json(), or use express.raw({ type: "application/json" })'))
  }
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    let done = false
    const finish = () => {
      if (done) return
      done = true
      resolve(Buffer.concat(chunks))
    }
    req.on('data', (chunk) => {
      if (done) return
      chunks.push(chunk)
      size += chunk.length
      if (size > limit) {
        finish()
        req.pause()
      }
    })
    req.on('end', finish)
    req.on('error', (e) => { if (!done) { done = true; reject(e) } })
  })
}

/** `[name, value]` pairs from the raw headers (repeated names repeated). */
function headerPairs (req) {
  const raw = req.rawHeaders || []
  const pairs = []
  for (let i = 0; i + 1 < raw.length; i += 2) pairs.push([raw[i], raw[i + 1]])
  return pairs
}

/**
 * `(req, res, next?) => void` serving `gateway` for `http.createServer` or as Express middleware.
 * As middleware, requests for other paths than the MCP endpoint and the metadata go to `next()`;
 * without `next` the core answers them (404).
 */
function createHandler (gateway) {
  if (!(gateway instanceof Gateway)) {
    throw new TypeError('createHandler needs a passgate Gateway')
  }
  const limit = gateway.maxBodyBytes
  const mcpPath = gateway.mcpPath
  return function passgateGateway (req, res, next) {
    const url = req.originalUrl || req.url || '/'
    const path = url.split('?')[0]
    if (typeof next === 'function' && path !== mcpPath && path !== METADATA_PATH &&
        path !== METADATA_PATH + mcpPath) {
      next()
      return
    }
    const method = req.method || 'GET'
    const body = method === 'POST' ? readBody(req, limit) : Promise.resolve(Buffer.alloc(0))
    body
      .then((b) => gateway.handle(method, path, headerPairs(req), b))
      .then((out) => {
        const headers = {}
        for (const [k, v] of out.headers) headers[k] = v
        headers['content-length'] = String(out.body.length)
        res.writeHead(out.status, headers)
        res.end(out.body)
        // A body cut short at the limit: the rest is not read.
        if (!req.readableEnded && req.socket) req.resume()
      })
      .catch((e) => {
        if (typeof next === 'function') { next(e); return }
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' })
        res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'internal error' } }))
      })
  }
}

module.exports = { Gateway, createHandler, METADATA_PATH }
