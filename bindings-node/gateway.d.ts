// passgate/gateway: passgate's MCP endpoint over Streamable HTTP for Node's `http` and Express.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Gateway } from './index'

export { Gateway } from './index'
export type { GatewayOptions, GatewayResponse } from './index'

/** The protected-resource metadata path (RFC 9728): `/.well-known/oauth-protected-resource`. */
export declare const METADATA_PATH: '/.well-known/oauth-protected-resource'

/**
 * `(req, res, next?) => void` serving `gateway`: for `http.createServer(handler)` or as Express
 * middleware (`app.use(handler)`; other paths go to `next()`).
 */
export declare function createHandler(
  gateway: Gateway,
): (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => void
