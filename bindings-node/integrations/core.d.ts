// Types shared by passgate/integrations/ai-sdk and passgate/integrations/langchain.
import type { Decision, Engine, IssuedPassport, JsonObject } from '../passgate'

/** A passport: its token, the issued passport, or null (anonymous). */
export type PassportLike = string | IssuedPassport | null
/**
 * Where the passport comes from — the one option every integration shares: the passport itself,
 * or a function of the framework's call context (the AI SDK's execution options, LangChain's
 * `RunnableConfig`) returning it (may be async).
 */
export type PassportSource<C> = PassportLike | ((context: C) => PassportLike | undefined | Promise<PassportLike | undefined>)

/** Options of the integrations' `guardTool`. */
export interface IntegrationOptions<I = any, C = any, R = any> {
  /** Where the passport comes from (default null: anonymous). */
  passport?: PassportSource<C>
  /** The payload to enforce (default: the tool's input as the tool receives it). May be async. */
  payload?: (input: I) => JsonObject | Promise<JsonObject>
  /** Reserve the request's amounts; the tool's result settles the hold, a throw releases it. */
  hold?: boolean
  /** With `hold`: the actual amounts, payload-shaped, from the result (undefined: the reserved ones). */
  settle?: (result: R, input: I) => JsonObject | undefined | Promise<JsonObject | undefined>
}

/** A failed check as the refusal carries it. */
export interface RefusedCheck {
  constraint: string
  type: string
  passed: false
  message: string
  code?: string
  observed?: string
  limit?: string
  [key: string]: unknown
}

/** What the model reads for a call the guard did not run (the same JSON as passgate/mcp's guard and Python). */
export type Refusal =
  | {
      decision: 'deny' | 'escalate'
      gate: string
      evaluation_id: string
      /** The failed checks. */
      checks: RefusedCheck[]
      /** Only on an escalation: what an operator approves (`engine.approve(evaluation_id, ...)`). */
      approval_request?: { [key: string]: unknown }
    }
  | { error: { code: string; message: string } }

/** Gates of tools by name, or a function of the name (and tool) returning the gate. */
export type GateMap<T = unknown> = Record<string, string> | ((name: string, tool: T) => string | null | undefined)

/**
 * The tools `passport` may call now, in the container shape given (a record or an array of named
 * tools): the gate (the wrapper's, or from `gates`) must be in `engine.allowedGates(passport)` and
 * a dry run without arguments must fail no check every call would fail. Tools without a gate are dropped.
 */
export declare function allowedTools<T>(engine: Engine, passport: PassportLike | undefined, tools: T[], gates?: GateMap<T>): T[]
export declare function allowedTools<T extends Record<string, unknown>>(engine: Engine, passport: PassportLike | undefined, tools: T, gates?: GateMap<T[keyof T]>): Partial<T>
/** Per gate: what is left of each cumulative budget (constraint id → decimal string). */
export declare function remainingBudgets(engine: Engine, passport: PassportLike | undefined, tools: unknown[] | Record<string, unknown>, gates?: GateMap): Record<string, Record<string, string>>
/** A paragraph for the system prompt: what is left of each budget ('' when there is none). */
export declare function budgetPrompt(engine: Engine, passport: PassportLike | undefined, tools: unknown[] | Record<string, unknown>, gates?: GateMap): string
/** The gate a passgate wrapper put on a tool (`tool.passgateGate`), or undefined. */
export declare function gateOf(tool: unknown): string | undefined
/**
 * `engine.enforceAsync(request)` inside a `passgate.enforce` OpenTelemetry span (when
 * `@opentelemetry/api` is installed and a provider registered), counted in `passgate.decisions`.
 */
export declare function enforceTraced(engine: Engine, request: Parameters<Engine['enforceAsync']>[0]): Promise<Decision>
