// A TypeScript consumer of 'passgate/mcp' (CommonJS require).
import mcp = require('passgate/mcp')
import passgate = require('passgate')

const engine = new passgate.Engine({ policy: { version: 1, gates: {} } })
const guarded = mcp.guard(engine, 'g', (args: { n: number }) => ({ content: [{ type: 'text' as const, text: String(args.n) }] }))
const names: string[] = mcp.tools().map((t) => t.name)
console.log(guarded, names)
