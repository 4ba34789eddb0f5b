// passgate/integrations/langchain: LangChain.js tools behind passgate gates (`@langchain/core` is
// the host's; it is loaded only when `guardTool` is called).
import type { Engine } from '../passgate'
import type { IntegrationOptions } from './core'

export type { GateMap, IntegrationOptions, PassportLike, PassportSource, Refusal, RefusedCheck } from './core'
export { allowedTools, remainingBudgets, budgetPrompt, gateOf, enforceTraced } from './core'

/** The part of a LangChain.js tool the guard reads (a `StructuredTool`, `tool(fn, {...})`). */
export interface LangChainTool {
  name: string
  description: string
  schema: unknown
  invoke(input: any, config?: any): Promise<any>
}

/**
 * `inner` behind `gate`: a new tool (same name, description and schema) that enforces with the
 * tool's input as the payload and invokes `inner` only on allow. Called with a tool call, a refusal
 * is a `ToolMessage` with `status: 'error'` and the refusal JSON as content (the plain JSON text
 * otherwise). `options.passport` may be a function of the call's `RunnableConfig`;
 * `options.settle` gets the `ToolMessage`'s `artifact` (else its `content`) for a tool call.
 */
export declare function guardTool<T extends LangChainTool>(
  inner: T,
  engine: Engine,
  gate: string,
  options?: IntegrationOptions<any, any, unknown>,
): T & { readonly passgateGate: string }
