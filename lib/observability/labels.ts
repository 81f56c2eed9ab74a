/**
 * Label values that come from users (workflow ids, model names) bounded per process: the first `max` distinct
 * values seen keep their own label, later ones share `other`. Each label value is a time series in Prometheus, so
 * an unbounded set (a workflow per webhook call, a model name per template) would grow its memory without end.
 * First come rather than a running "top N": a series that changed its label midway would break rates.
 */
export const OTHER_LABEL = "other";
const MAX_LABEL_LENGTH = 128;

export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(readonly max: number) {}

  value(raw: string | null | undefined): string {
    const value = (raw ?? "").slice(0, MAX_LABEL_LENGTH) || "unknown";
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return OTHER_LABEL;
    this.seen.add(value);
    return value;
  }
}

/** A positive whole number from the environment, else the fallback (bounds: 1 … 10,000). */
export function labelLimitFromEnv(name: string, fallback: number, env: Record<string, string | undefined> = process.env): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 10_000)
    throw new Error(`${name} must be a whole number from 1 to 10000 (got "${raw.slice(0, 40)}")`);
  return value;
}
