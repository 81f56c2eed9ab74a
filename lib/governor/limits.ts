import "@/lib/zod-browser"; // before any parse: no eval probe under the CSP
import { z } from "zod";

/**
 * The model governor's limits (pure: the Settings page, the runner and the tests read them). A limit row applies
 * to every call of one model (`kind: "model"`, matched by the model name the step sends) or to every call to one
 * gateway (`kind: "gateway"`, matched by its base URL); a call under both waits for both.
 */
export type LimitKind = "model" | "gateway";

export interface ModelLimitRow {
  kind: LimitKind;
  match: string;
  maxConcurrent?: number | null;
  rpm?: number | null;
  tpm?: number | null;
}

/** One line calls wait in: its key (shared by every process in queue mode) and what it allows. */
export interface LineLimits {
  key: string;
  /** Human-readable, for the `waiting for rate limit` event: e.g. `model "gpt-4o-mini"`. */
  label: string;
  maxConcurrent?: number;
  rpm?: number;
  tpm?: number;
}

export const MAX_LIMIT_ROWS = 200;
export const MAX_CONCURRENT = 10_000;
export const MAX_RPM = 1_000_000;
export const MAX_TPM = 1_000_000_000;
export const MAX_MATCH_LENGTH = 500;

const optionalBound = (field: string, max: number) =>
  z
    .number({ error: `${field} must be a whole number or empty (no limit)` })
    .int(`${field} must be a whole number`)
    .min(1, `${field} must be at least 1 (leave it empty for no limit)`)
    .max(max, `${field} is at most ${max.toLocaleString("en-US")}`)
    .nullish();

export const ModelLimitSchema = z
  .object({
    kind: z.enum(["model", "gateway"], { error: 'kind must be "model" or "gateway"' }),
    match: z
      .string({ error: "match must be a model name or a gateway base URL" })
      .trim()
      .min(1, "enter a model name (e.g. gpt-4o-mini) or a gateway base URL (e.g. http://127.0.0.1:4000/v1)")
      .max(MAX_MATCH_LENGTH, `match is at most ${MAX_MATCH_LENGTH} characters`),
    maxConcurrent: optionalBound("maxConcurrent", MAX_CONCURRENT),
    rpm: optionalBound("rpm", MAX_RPM),
    tpm: optionalBound("tpm", MAX_TPM),
  })
  .superRefine((row, ctx) => {
    if (row.kind === "gateway" && !/^https?:\/\/\S+$/i.test(row.match))
      ctx.addIssue({ code: "custom", path: ["match"], message: `a gateway is matched by its base URL, e.g. http://127.0.0.1:4000/v1 (not "${row.match.slice(0, 80)}")` });
    if (row.maxConcurrent == null && row.rpm == null && row.tpm == null)
      ctx.addIssue({ code: "custom", path: ["rpm"], message: `set at least one of maxConcurrent, rpm, tpm for ${row.kind} "${row.match.slice(0, 80)}"` });
  });

export const ModelLimitsSchema = z.array(ModelLimitSchema).max(MAX_LIMIT_ROWS, `at most ${MAX_LIMIT_ROWS} limits`);

/** A gateway URL as limits match it: trailing slashes and spaces do not make another gateway. */
export const normalizeGatewayUrl = (url: string) => url.trim().replace(/\/+$/, "");

/** The rows' matches in the form they are compared (gateway URLs normalised); duplicates are refused by the caller. */
export function normalizeRow<T extends ModelLimitRow>(row: T): T {
  return { ...row, match: row.kind === "gateway" ? normalizeGatewayUrl(row.match) : row.match.trim() };
}

/**
 * The lines a call to `model` at `gatewayUrl` waits in. The model's own line always exists (a 429 pauses it for
 * everyone even when no limit is set); the gateway's line only when a limit names that gateway.
 */
export function linesFor(rows: readonly ModelLimitRow[], model: string, gatewayUrl: string): LineLimits[] {
  const gateway = normalizeGatewayUrl(gatewayUrl);
  const modelRow = rows.find((r) => r.kind === "model" && r.match === model);
  const gatewayRow = rows.find((r) => r.kind === "gateway" && normalizeGatewayUrl(r.match) === gateway);
  const lines: LineLimits[] = [{ key: `model:${model}`, label: `model "${model}"`, ...limitsOf(modelRow) }];
  if (gatewayRow) lines.push({ key: `gateway:${gateway}`, label: `gateway ${gateway}`, ...limitsOf(gatewayRow) });
  return lines;
}

function limitsOf(row: ModelLimitRow | undefined): Pick<LineLimits, "maxConcurrent" | "rpm" | "tpm"> {
  if (!row) return {};
  return {
    ...(row.maxConcurrent ? { maxConcurrent: row.maxConcurrent } : {}),
    ...(row.rpm ? { rpm: row.rpm } : {}),
    ...(row.tpm ? { tpm: row.tpm } : {}),
  };
}

/** A cheap estimate of a prompt's tokens (about four characters a token for English text and code). */
export const estimateTokens = (text: string) => Math.ceil(text.length / 4);

/**
 * The pacing of a line: requests and tokens are spaced evenly (GCRA without a burst): 60 RPM admits one call a
 * second, never 60 at once. A provider that counts over a sliding minute then never sees more than the limit in
 * any minute, where fixed windows (rate-limiter-flexible's counters) let up to twice the limit through across a
 * window boundary.
 */
export function intervalsOf(line: LineLimits): { requestMs: number; tokenMs: number } {
  return { requestMs: line.rpm ? 60_000 / line.rpm : 0, tokenMs: line.tpm ? 60_000 / line.tpm : 0 };
}

/** What one call's tokens cost on a line's token pacing: a call larger than the limit takes a whole minute, not more. */
export function tokenCostMs(line: LineLimits, tokens: number): number {
  const { tokenMs } = intervalsOf(line);
  return tokenMs ? Math.min(Math.max(0, tokens) * tokenMs, 60_000) : 0;
}

/**
 * Retry-After as providers send it: delay-seconds or an HTTP date. Milliseconds from `now`, or undefined when absent
 * or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
