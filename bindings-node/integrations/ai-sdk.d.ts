// passgate/integrations/ai-sdk: Vercel AI SDK tools behind passgate gates. Typed structurally, so
// the package does not depend on `ai`: any `tool({...})` object fits.
import type { Engine } from '../passgate'
import type { GateMap, IntegrationOptions, Refusal } from './core'

export type { GateMap, IntegrationOptions, PassportLike, PassportSource, Refusal, RefusedCheck } from './core'
export { allowedTools, remainingBudgets, budgetPrompt, gateOf, enforceTraced } from './core'

/** The part of an AI SDK tool the guard reads. */
export interface ExecutableTool<I = any, O = any, X = any> {
  execute?: (input: I, options: X) => O | PromiseLike<O> | AsyncIterable<O>
  [key: string]: any
}

/**
 * The guarded tool: the same tool type (so it fits the AI SDK's `ToolSet` as the original did),
 * with its gate. Its `execute` resolves to a `Refusal` instead of the tool's output when the call
 * is not allowed (`isRefusal` tells them apart).
 */
export type GuardedTool<T extends ExecutableTool> = T & { readonly passgateGate: string }

/** True for what a guarded tool's `execute` returns instead of running: a deny, escalation or error. */
export declare function isRefusal(output: unknown): output is Refusal

/**
 * `tool` behind `gate`: `execute` enforces with the tool's input as the payload and runs the
 * original only on allow; a deny, an escalation or an error is returned as the tool's output (a
 * `Refusal`, which the model reads). `options.passport` may be a function of the execution options
 * (`{ toolCallId, messages, context, abortSignal }`).
 */
export declare function guardTool<T extends ExecutableTool>(
  tool: T,
  engine: Engine,
  gate: string,
  options?: IntegrationOptions<Parameters<NonNullable<T['execute']>>[0], Parameters<NonNullable<T['execute']>>[1]>,
): GuardedTool<T>

/** Each tool of a record behind its gate (`gates[name]`); tools without a gate are left out. */
export declare function guardTools<T extends Record<string, ExecutableTool>>(
  tools: T,
  engine: Engine,
  gates: GateMap<T[keyof T]>,
  options?: IntegrationOptions,
): { [K in keyof T]?: GuardedTool<T[K]> }
