import type { RunStatus, StepStatus } from "@/lib/runner/event-types";

type AnyStatus = RunStatus | StepStatus | "idle";

const styles: Record<AnyStatus, string> = {
  idle: "bg-neutral-100 text-neutral-500",
  queued: "bg-neutral-200 text-neutral-700",
  running: "bg-blue-100 text-blue-700",
  waiting: "bg-rose-100 text-rose-700",
  succeeded: "bg-emerald-100 text-emerald-700",
  failed: "bg-red-100 text-red-700",
  cancelled: "bg-amber-100 text-amber-800",
};

export function StatusBadge({ status, testId }: { status: AnyStatus; testId?: string }) {
  return (
    <span data-testid={testId} data-status={status} className={`inline-flex items-center rounded px-1.5 py-0.5 text-[11px] font-medium ${styles[status] ?? styles.idle}`}>
      {status}
    </span>
  );
}

export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function JsonBlock({ value, testId }: { value: unknown; testId?: string }) {
  return (
    <pre data-testid={testId} className="max-h-72 overflow-auto rounded bg-neutral-900 p-2 font-mono text-[11px] leading-relaxed text-neutral-100 whitespace-pre-wrap break-words">
      {value === undefined ? "—" : JSON.stringify(value, null, 2)}
    </pre>
  );
}

/** Dollars with enough digits for small LLM calls; "—" when no price is known. */
export function formatCost(usd: number | null | undefined): string {
  if (usd === null || usd === undefined) return "—";
  return usd >= 0.01 ? `$${usd.toFixed(2)}` : `$${usd.toPrecision(2)}`;
}
