// Types of bounded.mjs (plain JavaScript so that the expression worker threads load it without a TS loader).

export interface BoundedLimits {
  /** Longest evaluation (worker; in line the budget is INLINE_BUDGET.timeoutMs). */
  timeoutMs: number;
  /** Deepest nesting of evaluation (calls, recursion). */
  maxDepth: number;
  /** Largest value (JSON bytes, shared parts counted each time) an evaluation may build. */
  maxBytes: number;
  /** Longest sequence or range. */
  maxItems: number;
  /** Deepest nesting of objects and arrays in a value. */
  maxNesting: number;
}

export type BoundKind = "time" | "depth" | "bytes" | "items" | "nesting" | "memory";

export class ExpressionBoundError extends Error {
  constructor(limit: BoundKind, detail: string);
  readonly limit: BoundKind;
}

export class EscalateError extends Error {
  constructor(reason: string);
}

export const INLINE_BUDGET: Readonly<{ timeoutMs: number; maxBytes: number; maxItems: number; maxDistinct: number }>;

export interface Measure {
  bytes: number;
  nodes: number;
  height: number;
  functions: boolean;
}

export function measure(value: unknown, memo: WeakMap<object, Measure>, maxBytes: number, maxNesting: number): Measure | "bytes" | "nesting";

export interface ExpressionAnalysis {
  workerOnly: boolean;
  reads: "all" | { roots: string[]; steps: "all" | string[] };
}

export function analyzeExpression(expression: string): ExpressionAnalysis;

export function evaluateBounded(expression: string, doc: unknown, limits: BoundedLimits, inline: boolean): Promise<unknown>;
