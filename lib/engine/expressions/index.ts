import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { StepError } from "@/lib/engine/errors";
import { PLACEHOLDER, SOLE_PLACEHOLDER, templateExpressions, type ExpressionContext } from "@/lib/workflow/expression";
import { analyzeExpression, EscalateError, evaluateBounded, ExpressionBoundError, measure, type Measure } from "./bounded.mjs";
import { expressionLimits, LIMIT_VARIABLE, type ExpressionLimits } from "./limits";
import { expressionWorkers } from "./pool";

export { expressionLimits, type ExpressionLimits } from "./limits";

/**
 * Bounded evaluation of templates, conditions and `assign` (the only way the engine evaluates expressions).
 * Each evaluation first runs in line within a budget of a few milliseconds; what does not fit (a long loop, a
 * large value, a regular expression) runs again in an expression worker with the full limits (limits.ts), where
 * it can be stopped from outside. A crossed limit fails the step with EXPRESSION_LIMIT naming the step, the
 * field and the limit; a faulty expression with TEMPLATE_ERROR.
 */
export interface EvaluationScope {
  /** The step the evaluation belongs to (named in errors). */
  stepId: string;
  /** Cancels an evaluation waiting for or running in a worker (run cancelled, step timed out). */
  signal?: AbortSignal;
  limits?: ExpressionLimits;
}

/** Time in line after which a render gives other work on the event loop a turn. */
const YIELD_AFTER_MS = 5;
/** Placeholders that evaluated to nothing named one by one in a step's log; the rest are counted in one line. */
const MAX_NAMED_MISSING = 3;

export class ExpressionEvaluator {
  readonly limits: ExpressionLimits;
  private readonly memo = new WeakMap<object, Measure>();
  private sliceStart = performance.now();
  /** Placeholders that evaluated to nothing (undefined): the first few, and how many in all. */
  private readonly missing: Array<{ expression: string; field: string }> = [];
  private missingCount = 0;

  constructor(
    private readonly context: ExpressionContext,
    private readonly scope: EvaluationScope,
  ) {
    this.limits = scope.limits ?? expressionLimits();
  }

  /** One bare expression (a condition, a map's items). */
  async evaluate(expression: string, field: string): Promise<unknown> {
    await this.pace();
    try {
      try {
        return await evaluateBounded(expression, this.context, this.limits, true);
      } catch (err) {
        if (!(err instanceof EscalateError)) throw err;
      }
      return await expressionWorkers().evaluate(expression, this.readsOf(expression), this.limits, this.scope.signal);
    } catch (err) {
      if (this.scope.signal?.aborted && err === this.scope.signal.reason) throw err;
      throw this.stepError(err, field, expression);
    }
  }

  /** A template string: exactly one placeholder yields its raw value, otherwise the text with values interpolated. */
  async renderTemplate(template: string, field: string): Promise<unknown> {
    if (!template.includes("{{")) return template;
    const sole = SOLE_PLACEHOLDER.exec(template);
    if (sole && templateExpressions(template).length === 1) return this.checked(await this.placeholder(sole[1].trim(), field), field);
    let result = "";
    let last = 0;
    for (const match of template.matchAll(PLACEHOLDER)) {
      const value = this.checked(await this.placeholder(match[1].trim(), field), field);
      result += template.slice(last, match.index) + (value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value));
      last = match.index + match[0].length;
      this.checked(result, field);
    }
    return result + template.slice(last);
  }

  /** A placeholder's value; one that is undefined (a field or output that is not there) is noted for the step log. */
  private async placeholder(expression: string, field: string): Promise<unknown> {
    const value = await this.evaluate(expression, field);
    if (value === undefined && this.missingCount++ < MAX_NAMED_MISSING) this.missing.push({ expression, field });
    return value;
  }

  /**
   * Warning lines for the step log about placeholders that evaluated to nothing and so rendered empty (or left
   * their key out): a few named with their field, the rest counted. Empty when every placeholder had a value.
   */
  missingWarnings(): string[] {
    if (!this.missingCount) return [];
    const lines = this.missing.map(
      ({ expression, field }) => `{{ ${expression.length > 120 ? `${expression.slice(0, 120)}…` : expression} }} in ${field} evaluated to nothing (no such field or output?); it was rendered empty`,
    );
    const more = this.missingCount - this.missing.length;
    if (more > 0) lines.push(`${more} more placeholder${more === 1 ? "" : "s"} evaluated to nothing`);
    this.missing.length = 0;
    this.missingCount = 0;
    return lines;
  }

  /** Every string inside a JSON value, rendered (objects and arrays walked in order, iteratively). */
  async renderValue(value: unknown, field: string): Promise<unknown> {
    if (typeof value === "string") return this.renderTemplate(value, field);
    if (value === null || typeof value !== "object") return value;
    const root: { value: unknown } = { value: undefined };
    const stack: Array<{ source: unknown; target: Record<string, unknown> | unknown[]; key: string | number; path: string }> = [
      { source: value, target: root as unknown as Record<string, unknown>, key: "value", path: field },
    ];
    while (stack.length) {
      const { source, target, key, path } = stack.pop()!;
      let rendered: unknown;
      if (typeof source === "string") rendered = await this.renderTemplate(source, path);
      else if (Array.isArray(source)) {
        rendered = new Array(source.length);
        for (let i = source.length - 1; i >= 0; i--) stack.push({ source: source[i], target: rendered as unknown[], key: i, path: `${path}[${i}]` });
      } else if (source !== null && typeof source === "object") {
        rendered = {};
        const entries = Object.entries(source);
        for (let i = entries.length - 1; i >= 0; i--) stack.push({ source: entries[i][1], target: rendered as Record<string, unknown>, key: entries[i][0], path: `${path}.${entries[i][0]}` });
      } else rendered = source;
      (target as Record<string | number, unknown>)[key] = rendered;
    }
    this.checked(root.value, field);
    return root.value;
  }

  /**
   * Values that leave an evaluation are bounded together too: a config rendered from many placeholders, each
   * within the limit, must not add up to more (measured once per object, shared parts counted each time).
   */
  private checked(value: unknown, field: string): unknown {
    const m = measure(value, this.memo, this.limits.maxBytes, this.limits.maxNesting);
    if (typeof m === "object") return value;
    const bound =
      m === "nesting"
        ? new ExpressionBoundError("nesting", `the rendered value is nested deeper than ${this.limits.maxNesting} levels`)
        : new ExpressionBoundError("bytes", `the rendered value is larger than ${this.limits.maxBytes} bytes`);
    throw this.stepError(bound, field);
  }

  /** Long renders (many templates) give the event loop a turn every few milliseconds. */
  private async pace() {
    if (performance.now() - this.sliceStart < YIELD_AFTER_MS) return;
    await yieldToEventLoop();
    this.sliceStart = performance.now();
  }

  /** Only the parts of the context an expression reads are copied to a worker. */
  private readsOf(expression: string): unknown {
    const { reads } = analyzeExpression(expression);
    if (reads === "all") return this.context;
    const doc: Record<string, unknown> = {};
    const source = this.context as unknown as Record<string, unknown>;
    for (const root of reads.roots) {
      if (!(root in source)) continue;
      if (root === "steps" && reads.steps !== "all") {
        const steps: Record<string, unknown> = {};
        for (const id of reads.steps) if (id in this.context.steps) steps[id] = this.context.steps[id];
        doc.steps = steps;
      } else doc[root] = source[root];
    }
    return doc;
  }

  private stepError(err: unknown, field: string, expression?: string): StepError {
    if (err instanceof StepError) return err;
    const where = `step "${this.scope.stepId}" field "${field}"`;
    if (err instanceof ExpressionBoundError)
      return new StepError("EXPRESSION_LIMIT", `${where}: ${err.message}; simplify the expression or raise ${LIMIT_VARIABLE[err.limit]}`, { stepId: this.scope.stepId });
    const e = err as { message?: string; position?: number };
    const at = typeof e?.position === "number" ? ` (at character ${e.position})` : "";
    return new StepError("TEMPLATE_ERROR", `${where}: expression "${expression}" failed: ${e?.message ?? String(err)}${at}`, { stepId: this.scope.stepId });
  }
}
