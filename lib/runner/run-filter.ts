import { z } from "zod";
import { OrchestratorError } from "@/lib/engine/errors";
import type { RunStatus } from "./event-types";

/**
 * The history's filters, sort and page, as the /runs page's URL, the REST API's query and the CLI's flags give
 * them (all text): one schema, so the three accept and refuse the same things with the same messages.
 */

export const RUN_STATUSES_LIST = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"] as const satisfies readonly RunStatus[];
export const HISTORY_TRIGGERS = ["ui", "cli", "api", "webhook", "schedule", "fork", "workflow", "resume"] as const;
export const HISTORY_SORTS = ["created", "duration", "cost"] as const;
export const MAX_HISTORY_LIMIT = 500;
export const DEFAULT_HISTORY_LIMIT = 50;
const MAX_CURSOR_CHARS = 512;

export type HistoryTrigger = (typeof HISTORY_TRIGGERS)[number];
export type HistorySort = (typeof HISTORY_SORTS)[number];

const text = (name: string, max: number) => z.string().max(max, `${name}: at most ${max} characters`);
const isoDate = (name: string) =>
  text(name, 40)
    .refine((v) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v)), `${name}: a date like 2026-12-01 or 2026-12-01T08:00:00Z`)
    .transform((v) => new Date(v));
const number = (name: string, max: number, integer: boolean) =>
  text(name, 20)
    .refine((v) => (integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(v), `${name}: ${integer ? "a whole number" : "a number"} of 0 or more`)
    .transform(Number)
    .pipe(z.number().max(max, `${name}: at most ${max}`));

/** Query-string fields (as text) → typed filter. Unknown fields are refused (a typo must not widen the list). */
export const RunListQuery = z
  .strictObject({
    workflow: text("workflow", 200).min(1, "workflow: not empty").optional().describe("only runs of this workflow id"),
    status: z.enum(RUN_STATUSES_LIST, { message: `status: one of ${RUN_STATUSES_LIST.join(", ")}` }).optional(),
    trigger: z.enum(HISTORY_TRIGGERS, { message: `trigger: one of ${HISTORY_TRIGGERS.join(", ")}` }).optional().describe("what started the run; `resume`: runs resumed by hand"),
    since: isoDate("since").optional().describe("created at or after (ISO date or date-time, UTC unless it says)"),
    until: isoDate("until").optional().describe("created at or before"),
    minDurationMs: number("minDurationMs", 1e12, true).optional().describe("ran at least this many ms (ended runs)"),
    maxDurationMs: number("maxDurationMs", 1e12, true).optional(),
    minCost: number("minCost", 1e9, false).optional().describe("cost at least this many USD"),
    maxCost: number("maxCost", 1e9, false).optional(),
    search: text("search", 200).optional().describe("text the run's input, outputs or error contain (3 to 200 characters, any case)"),
    sort: z.enum(HISTORY_SORTS, { message: `sort: one of ${HISTORY_SORTS.join(", ")}` }).optional().describe("created (default), duration or cost"),
    order: z.enum(["asc", "desc"], { message: "order: asc or desc" }).optional().describe("desc (default) or asc"),
    cursor: text("cursor", MAX_CURSOR_CHARS).optional().describe("the nextCursor of the page before"),
    limit: text("limit", 10)
      .regex(/^\d+$/, `limit: a whole number from 1 to ${MAX_HISTORY_LIMIT}`)
      .transform(Number)
      .pipe(z.number().int().min(1, "limit: at least 1").max(MAX_HISTORY_LIMIT, `limit: at most ${MAX_HISTORY_LIMIT}`))
      .optional()
      .describe(`how many (default ${DEFAULT_HISTORY_LIMIT}, at most ${MAX_HISTORY_LIMIT})`),
  })
  .refine((q) => !(q.since && q.until) || q.since <= q.until, { message: "until: must not be before since", path: ["until"] })
  .refine((q) => q.minDurationMs === undefined || q.maxDurationMs === undefined || q.minDurationMs <= q.maxDurationMs, { message: "maxDurationMs: must not be below minDurationMs", path: ["maxDurationMs"] })
  .refine((q) => q.minCost === undefined || q.maxCost === undefined || q.minCost <= q.maxCost, { message: "maxCost: must not be below minCost", path: ["maxCost"] });

export type RunListFilter = Omit<z.output<typeof RunListQuery>, "workflow"> & { workflowId?: string };

/**
 * Parses text fields (URL search params, CLI flags) into a filter; empty values count as absent (a form's empty
 * inputs). Throws INVALID_INPUT naming the field.
 */
export function parseRunListQuery(raw: Record<string, string | string[] | undefined>): RunListFilter {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw)) {
    const one = Array.isArray(value) ? value[0] : value;
    if (one !== undefined && one !== "") fields[key] = one;
  }
  const parsed = RunListQuery.safeParse(fields);
  if (!parsed.success)
    throw new OrchestratorError(
      "INVALID_INPUT",
      parsed.error.issues.map((issue) => (issue.code === "unrecognized_keys" ? `unknown filter ${issue.keys.map((k) => `"${k}"`).join(", ")}` : issue.message)).join("; "),
    );
  return fromQuery(parsed.data);
}

export function fromQuery({ workflow, ...rest }: z.output<typeof RunListQuery>): RunListFilter {
  return { ...rest, ...(workflow ? { workflowId: workflow } : {}) };
}

/** The filter back as URL query fields (links to the next page, to a sort), without the cursor. */
export function filterToQuery(filter: RunListFilter): Record<string, string> {
  const out: Record<string, string> = {};
  const set = (key: string, value: unknown) => {
    if (value === undefined || value === null || value === "") return;
    out[key] = value instanceof Date ? value.toISOString() : String(value);
  };
  set("workflow", filter.workflowId);
  set("status", filter.status);
  set("trigger", filter.trigger);
  set("since", filter.since);
  set("until", filter.until);
  set("minDurationMs", filter.minDurationMs);
  set("maxDurationMs", filter.maxDurationMs);
  set("minCost", filter.minCost);
  set("maxCost", filter.maxCost);
  set("search", filter.search);
  set("sort", filter.sort);
  set("order", filter.order);
  set("limit", filter.limit);
  return out;
}

/**
 * Where a page ended: the sort it belongs to, the last row's sort value (ISO date, a number, or null once the runs
 * without one are reached) and its id. Opaque to callers (base64url JSON).
 */
export interface HistoryCursor {
  sort: HistorySort;
  order: "asc" | "desc";
  value: string | number | null;
  id: string;
}

export function encodeCursor(cursor: HistoryCursor): string {
  return Buffer.from(JSON.stringify([cursor.sort, cursor.order, cursor.value, cursor.id])).toString("base64url");
}

const BAD_CURSOR = "cursor: not a cursor of this list; start from the first page (leave cursor out)";

export function decodeCursor(text: string, sort: HistorySort, order: "asc" | "desc"): HistoryCursor {
  let parts: unknown;
  try {
    parts = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw new OrchestratorError("INVALID_INPUT", BAD_CURSOR);
  }
  if (!Array.isArray(parts) || parts.length !== 4) throw new OrchestratorError("INVALID_INPUT", BAD_CURSOR);
  const [cursorSort, cursorOrder, value, id] = parts as unknown[];
  if (typeof id !== "string" || !id || id.length > 200) throw new OrchestratorError("INVALID_INPUT", BAD_CURSOR);
  if (cursorSort !== sort || cursorOrder !== order)
    throw new OrchestratorError("INVALID_INPUT", "cursor: it belongs to another sort order; start from the first page (leave cursor out)");
  if (sort === "created" ? typeof value !== "string" || Number.isNaN(Date.parse(value)) : value !== null && (typeof value !== "number" || !Number.isFinite(value)))
    throw new OrchestratorError("INVALID_INPUT", BAD_CURSOR);
  return { sort, order, value: value as string | number | null, id };
}
