// passgate/mcp (ES module entry): the CommonJS entry's exports, by name.
import mcp from './mcp.js'

export const { tools, handle, handleAsync, guard, PASSPORT_META } = mcp

export default mcp
