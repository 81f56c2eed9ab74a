import "@/lib/zod-browser"; // before any parse: no eval probe under the CSP
import { z } from "zod";

/**
 * Workflow definition format v1 — a public contract (see README "Workflow definition format").
 * The seed's simple form `{ id, name, steps }` (no edges, no schemaVersion) stays valid: its steps run in order.
 */

export const STEP_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]*$/;
/**
 * Workflow ids are database keys and path segments (/workflows/<id>, /api/hooks/<id>): letters, digits, _, - and
 * dots inside (`team.triage-v2`), at most 128 characters; no slashes, spaces, leading dot or `..`.
 */
export const WORKFLOW_ID_PATTERN = /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
/** How many times one step may execute in a run unless `limits.maxIterations` says otherwise (loop guard). */
export const DEFAULT_MAX_ITERATIONS = 100;
/**
 * Size bounds of a definition, checked before anything else so a huge one is refused at once. They bound runs too:
 * compiling and running cost the same per step at any size (lib/engine/compile.ts), so any valid definition runs.
 */
export const MAX_STEPS = 50_000;
export const MAX_DEFINITION_BYTES = 16 * 1024 * 1024;

/** Bounds of the workflow-level `concurrency` setting (README "Concurrency per workflow"). */
export const MAX_CONCURRENCY_LIMIT = 1000;
export const MAX_CONCURRENCY_KEY_EXPRESSION = 1000;

/**
 * At most `limit` runs of the workflow execute at once, the rest stay queued (first created, first started); with
 * `key`, an expression over the run input, the limit holds per value of the key (one run per customer at a time).
 */
export const ConcurrencySchema = z.object({
  limit: z
    .number({ error: `must be a whole number from 1 to ${MAX_CONCURRENCY_LIMIT} (runs at once)` })
    .int(`must be a whole number from 1 to ${MAX_CONCURRENCY_LIMIT} (runs at once)`)
    .min(1, `must be at least 1 (runs at once); leave concurrency out for no limit`)
    .max(MAX_CONCURRENCY_LIMIT, `is at most ${MAX_CONCURRENCY_LIMIT} (runs at once)`),
  key: z
    .string()
    .trim()
    .min(1, "may not be empty: leave it out for one limit over all runs of the workflow")
    .max(MAX_CONCURRENCY_KEY_EXPRESSION, `is at most ${MAX_CONCURRENCY_KEY_EXPRESSION} characters`)
    .optional(),
});

export const PositionSchema = z.object({ x: z.number(), y: z.number() });

/** Retries apply only to retryable failures (network errors, HTTP 429 and 5xx, timeouts); every field optional. */
export const RetryPolicySchema = z.object({
  maxAttempts: z.number().int().min(1).max(20).optional(),
  initialDelayMs: z.number().int().min(0).optional(),
  backoffFactor: z.number().min(1).optional(),
  maxDelayMs: z.number().int().min(0).optional(),
  jitter: z.boolean().optional(),
});

export const RETRY_DEFAULTS = { maxAttempts: 3, initialDelayMs: 500, backoffFactor: 2, maxDelayMs: 10_000, jitter: true } as const;

/**
 * Names JavaScript objects treat specially: as step ids (keys of outputs, of `steps.<id>`), workflow ids or variable
 * names (keys of `vars`) they would not be data.
 */
export const RESERVED_NAMES = new Set(["__proto__", "constructor", "prototype"]);

export const WorkflowIdSchema = z
  .string()
  .min(1, { error: "id is required", abort: true })
  .regex(WORKFLOW_ID_PATTERN, `use letters, digits, _, - and . (not first, no ..), at most 128 characters, e.g. support-triage (pattern ${WORKFLOW_ID_PATTERN.source})`)
  .refine((id) => !RESERVED_NAMES.has(id), { message: "may not be __proto__, constructor or prototype; choose another id" });

/** A variable name (a key of `vars`, an `assign` target). */
export const VariableNameSchema = z
  .string()
  .min(1, "a variable name may not be empty")
  .max(200, "a variable name is at most 200 characters")
  .refine((name) => !RESERVED_NAMES.has(name), { message: "a variable may not be named __proto__, constructor or prototype; choose another name" });

export const StepSchema = z.object({
  id: z
    .string()
    .max(200, "step id is at most 200 characters")
    .regex(STEP_ID_PATTERN, "step id must start with a letter or _ and contain only letters, digits, _ and -")
    .refine((id) => !RESERVED_NAMES.has(id), { message: "step id may not be __proto__, constructor or prototype; choose another" }),
  type: z.string().min(1, "type is required (llm, transform, condition, approval)"),
  name: z.string().optional(),
  config: z.record(z.string(), z.unknown()).default({}),
  /** Evaluated after the step; `output` is the step's output. */
  assign: z.record(VariableNameSchema, z.string()).optional(),
  /** Retry policy for retryable failures; without it a step is attempted once. */
  retry: RetryPolicySchema.optional(),
  /** Time limit of each attempt. */
  timeoutMs: z.number().int().positive().optional(),
  /** JSON Schema the step's output must match; a mismatch fails the step naming the path. */
  outputSchema: z.record(z.string(), z.unknown()).optional(),
  /**
   * What a failure (after retries) does: `fail` the run (default), `continue` along the normal edges, or `route`
   * along the step's `when: "error"` edges. With continue/route the step's output is `{ error: { code, message } }`.
   */
  onError: z.enum(["fail", "continue", "route"]).optional(),
  /** Canvas position; ignored by the engine. */
  position: PositionSchema.optional(),
});

export const EdgeSchema = z.object({
  from: z.string().min(1),
  to: z.string().min(1),
  /** "true"/"false" leave a condition step; "error" leaves a step with `onError: "route"`. */
  when: z.enum(["true", "false", "error"]).optional(),
});

/** Dollar caps are bounded so a typo (an extra zero or ten) is noticed rather than meaning "no cap". */
export const MAX_BUDGET_USD = 1_000_000;
const dollars = (field: string) =>
  z
    .number({ error: `${field} must be a number of US dollars, e.g. 0.50` })
    .positive(`${field} must be more than 0 (leave it out for no cap)`)
    .max(MAX_BUDGET_USD, `${field} is at most ${MAX_BUDGET_USD.toLocaleString("en-US")} dollars`);

/**
 * Budget caps in US dollars (lib/governor/budget.ts): a model call whose worst-case cost (prompt estimate + max
 * tokens at the model's price) would take the run's spend over `perRunUsd`, or the workflow's spend in the current
 * UTC calendar month over `perMonthUsd`, fails its step with BUDGET_EXCEEDED before the call is made.
 */
export const BudgetSchema = z.object({
  perRunUsd: dollars("budget.perRunUsd").optional(),
  perMonthUsd: dollars("budget.perMonthUsd").optional(),
});
export type Budget = z.infer<typeof BudgetSchema>;

export const WorkflowDefinitionSchema = z.object({
  id: WorkflowIdSchema,
  name: z.string().min(1, "name is required"),
  schemaVersion: z.literal(1).optional(),
  description: z.string().optional(),
  /** JSON Schema of the run input, validated at run start. */
  input: z.record(z.string(), z.unknown()).optional(),
  vars: z.record(VariableNameSchema, z.unknown()).optional(),
  steps: z.array(StepSchema),
  edges: z.array(EdgeSchema).optional(),
  /** At most `limit` runs at once (per value of `key`, an expression over the input); the rest wait queued. */
  concurrency: ConcurrencySchema.optional(),
  limits: z
    .object({
      /** How many times one step may execute in a run (each loop iteration counts); default 100. */
      maxIterations: z.number().int().positive().optional(),
      /** Optional cap on all step executions of a run together; none by default. */
      maxStepExecutions: z.number().int().positive().optional(),
    })
    .optional(),
  budget: BudgetSchema.optional(),
});

/**
 * Definitions read back from the database (saved versions, run snapshots) were validated when saved; one saved
 * before workflow ids had a pattern keeps loading (saving it again asks for a valid id).
 */
export const StoredDefinitionSchema = WorkflowDefinitionSchema.extend({ id: z.string().min(1) });

export type ConcurrencySetting = z.infer<typeof ConcurrencySchema>;
export type WorkflowStep = z.infer<typeof StepSchema>;
export type WorkflowEdge = z.infer<typeof EdgeSchema>;
export type WorkflowDefinition = z.infer<typeof WorkflowDefinitionSchema>;

/** One problem found in a definition: where (step id and/or field) and what to do about it. */
export interface ValidationIssue {
  code: string;
  message: string;
  stepId?: string;
  field?: string;
  /** Index into `edges` for problems with an edge. */
  edgeIndex?: number;
}

/** The edges the engine runs: explicit ones, or — in the simple form — steps chained in order. */
export function effectiveEdges(def: Pick<WorkflowDefinition, "steps" | "edges">): WorkflowEdge[] {
  if (def.edges !== undefined) return def.edges;
  return def.steps.slice(1).map((step, i) => ({ from: def.steps[i].id, to: step.id }));
}
