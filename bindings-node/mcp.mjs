// passgate/mcp (ES module entry): the CommonJS entry's exports, by name.
import mcp from './mcp.js'

export const {
  tools,
  handle,
  handleAsync,
  guard,
  withGuardArguments,
  guardArguments,
  PASSPORT_META,
  APPROVAL_META,
  IDEMPOTENCY_META,
  APPROVAL_ARGUMENT,
  IDEMPOTENCY_ARGUMENT,
  NOT_EXECUTED,
} = mcp

export default mcp
