// passgate/gateway against Node's own http types (@types/node): the structural request and
// response types accept IncomingMessage and ServerResponse. Type-checked by `make test-node`.
import http from 'node:http'
import { Engine } from 'passgate'
import { Gateway, createHandler } from 'passgate/gateway'

const engine = new Engine({ policy: { version: 1, gates: {} } })
const server = http.createServer(createHandler(new Gateway(engine, { allowedOrigins: ['https://app.example.com'] })))
const handler = createHandler(new Gateway(engine))
server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => handler(req, res, (err) => console.error(err)))
