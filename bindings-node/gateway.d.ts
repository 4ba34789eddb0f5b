// passgate/gateway: passgate's MCP endpoint over Streamable HTTP for Node's `http` and Express.
// The request and response types are structural (what the handler uses of Node's
// `IncomingMessage` / `ServerResponse`), so these declarations need no `@types/node`.
import type { Gateway } from './index'

export { Gateway } from './index'
export type { GatewayOptions, GatewayResponse } from './index'

/** The protected-resource metadata path (RFC 9728): `/.well-known/oauth-protected-resource`. */
export declare const METADATA_PATH: '/.well-known/oauth-protected-resource'

/** What the handler reads of a request (Node's `IncomingMessage`, Express's `Request`). */
export interface GatewayIncoming {
  method?: string
  url?: string
  originalUrl?: string
  rawHeaders: string[]
  readonly readableEnded: boolean
  /** A body parser's result: refused (mount the handler before `express.json()`). */
  body?: unknown
  on(event: string, listener: (...args: never[]) => void): unknown
  pause(): unknown
  resume(): unknown
}

/** What the handler writes of a response (Node's `ServerResponse`). */
export interface GatewayOutgoing {
  readonly headersSent: boolean
  writeHead(statusCode: number, headers: Record<string, string>): unknown
  end(chunk: Uint8Array | string): unknown
}

/**
 * `(req, res, next?) => void` serving `gateway`: for `http.createServer(handler)` or as Express
 * middleware (`app.use(handler)`; other paths go to `next()`), before any JSON body parser.
 */
export declare function createHandler(
  gateway: Gateway,
): (req: GatewayIncoming, res: GatewayOutgoing, next?: (err?: unknown) => void) => void
