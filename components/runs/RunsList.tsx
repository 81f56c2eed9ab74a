"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, useTransition, type FormEvent } from "react";
import { cancelRuns, deleteRuns, resumeRuns } from "@/app/runs/actions";
import { formatCost, formatDuration, StatusBadge } from "@/components/ui/status";
import type { RunStatus } from "@/lib/runner/event-types";
import { RunAgainButton } from "./RunAgainButton";

export interface RunsListRow {
  runId: string;
  workflowId: string;
  workflowName: string;
  workflowVersion: number | null;
  status: RunStatus;
  trigger: string;
  createdAt: string;
  startedAt: string | null;
  durationMs: number | null;
  costUsd: number | null;
  forkOf: string | null;
  resumeCount: number;
  /** Why a queued run has not started (waiting for a concurrency slot). */
  queueReason: string | null;
}

const STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"];
const TRIGGERS = ["ui", "cli", "api", "webhook", "schedule", "fork", "workflow", "resume"];
const ENDED = ["succeeded", "failed", "cancelled"];

const href = (query: Record<string, string>) => {
  const params = new URLSearchParams(query).toString();
  return params ? `/runs?${params}` : "/runs";
};

/** The history's table: filters (kept in the URL), selection with bulk actions, compare, pages by cursor. */
export function RunsList({
  rows,
  query,
  nextCursor,
  paged,
  error,
  canAct,
}: {
  rows: RunsListRow[];
  /** The filter and sort as URL fields (no cursor). */
  query: Record<string, string>;
  nextCursor: string | null;
  /** This page is not the first (a cursor is in the URL). */
  paged: boolean;
  error?: string;
  canAct: boolean;
}) {
  const router = useRouter();
  const [selected, setSelected] = useState<string[]>([]);
  const [notice, setNotice] = useState<{ kind: "ok" | "error"; text: string }>();
  const [pending, start] = useTransition();
  const selectedRows = rows.filter((row) => selected.includes(row.runId));
  const toggle = (runId: string) => setSelected((s) => (s.includes(runId) ? s.filter((id) => id !== runId) : [...s, runId]));
  const allSelected = rows.length > 0 && selected.length === rows.length;

  const applyFilters = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const next: Record<string, string> = {};
    for (const [key, value] of data.entries()) if (typeof value === "string" && value.trim() !== "") next[key] = value.trim();
    // Dates from <input type="date"> are days: `until` takes the whole day.
    if (next.until && /^\d{4}-\d{2}-\d{2}$/.test(next.until)) next.until = `${next.until}T23:59:59.999Z`;
    setSelected([]);
    router.push(href(next));
  };

  const bulk = (label: string, action: (ids: string[]) => ReturnType<typeof deleteRuns>) =>
    start(async () => {
      const result = await action(selected);
      if (!result.ok) return setNotice({ kind: "error", text: result.message });
      const skipped = result.skipped.map((s) => s.message).join("; ");
      setNotice({ kind: result.skipped.length ? "error" : "ok", text: `${label}: ${result.done.length} run${result.done.length === 1 ? "" : "s"}${skipped ? `. Skipped: ${skipped}` : ""}` });
      setSelected([]);
      router.refresh();
    });

  const day = (iso: string | undefined) => (iso ? iso.slice(0, 10) : undefined);
  const button = "rounded border border-neutral-300 bg-white px-2 py-1 text-xs font-medium hover:bg-neutral-50 disabled:opacity-40";

  return (
    <div className="mx-auto max-w-6xl p-6">
      <div className="mb-3 flex items-baseline gap-3">
        <h1 className="text-lg font-semibold">Runs</h1>
        {query.workflow && (
          <span className="text-sm text-neutral-500">
            of <code className="font-mono">{query.workflow}</code> · <Link href="/runs" className="hover:underline">all runs</Link>
          </span>
        )}
      </div>

      <form onSubmit={applyFilters} data-testid="runs-filters" className="mb-3 grid grid-cols-2 gap-2 rounded border border-neutral-200 bg-white p-3 text-xs sm:grid-cols-4 lg:grid-cols-6" key={JSON.stringify(query)}>
        <label className="col-span-2 flex flex-col gap-0.5">
          Search input, outputs, errors
          <input name="search" defaultValue={query.search} maxLength={200} placeholder="at least 3 characters" data-testid="filter-search" className="rounded border border-neutral-300 px-2 py-1" />
        </label>
        <label className="flex flex-col gap-0.5">
          Status
          <select name="status" defaultValue={query.status ?? ""} data-testid="filter-status" className="rounded border border-neutral-300 px-1 py-1">
            <option value="">any</option>
            {STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label className="flex flex-col gap-0.5">
          Trigger
          <select name="trigger" defaultValue={query.trigger ?? ""} data-testid="filter-trigger" className="rounded border border-neutral-300 px-1 py-1">
            <option value="">any</option>
            {TRIGGERS.map((t) => <option key={t} value={t}>{t === "resume" ? "resumed by hand" : t}</option>)}
          </select>
        </label>
        <label className="flex flex-col gap-0.5">
          Workflow id
          <input name="workflow" defaultValue={query.workflow} maxLength={200} data-testid="filter-workflow" className="rounded border border-neutral-300 px-2 py-1" />
        </label>
        <label className="flex flex-col gap-0.5">
          Sort
          <span className="flex gap-1">
            <select name="sort" defaultValue={query.sort ?? "created"} data-testid="filter-sort" className="min-w-0 flex-1 rounded border border-neutral-300 px-1 py-1">
              <option value="created">created</option>
              <option value="duration">duration</option>
              <option value="cost">cost</option>
            </select>
            <select name="order" defaultValue={query.order ?? "desc"} data-testid="filter-order" className="rounded border border-neutral-300 px-1 py-1">
              <option value="desc">desc</option>
              <option value="asc">asc</option>
            </select>
          </span>
        </label>
        <label className="flex flex-col gap-0.5">
          Created from
          <input type="date" name="since" defaultValue={day(query.since)} data-testid="filter-since" className="rounded border border-neutral-300 px-1 py-1" />
        </label>
        <label className="flex flex-col gap-0.5">
          Created until
          <input type="date" name="until" defaultValue={day(query.until)} data-testid="filter-until" className="rounded border border-neutral-300 px-1 py-1" />
        </label>
        <label className="flex flex-col gap-0.5">
          Duration min / max (ms)
          <span className="flex gap-1">
            <input name="minDurationMs" inputMode="numeric" defaultValue={query.minDurationMs} data-testid="filter-min-duration" className="w-full min-w-0 rounded border border-neutral-300 px-1 py-1" />
            <input name="maxDurationMs" inputMode="numeric" defaultValue={query.maxDurationMs} data-testid="filter-max-duration" className="w-full min-w-0 rounded border border-neutral-300 px-1 py-1" />
          </span>
        </label>
        <label className="flex flex-col gap-0.5">
          Cost min / max (USD)
          <span className="flex gap-1">
            <input name="minCost" inputMode="decimal" defaultValue={query.minCost} data-testid="filter-min-cost" className="w-full min-w-0 rounded border border-neutral-300 px-1 py-1" />
            <input name="maxCost" inputMode="decimal" defaultValue={query.maxCost} data-testid="filter-max-cost" className="w-full min-w-0 rounded border border-neutral-300 px-1 py-1" />
          </span>
        </label>
        {query.limit && <input type="hidden" name="limit" value={query.limit} />}
        <span className="col-span-2 flex items-end gap-2">
          <button type="submit" data-testid="filter-apply" className="rounded bg-neutral-900 px-3 py-1 font-medium text-white">Apply</button>
          <Link href={query.workflow ? href({ workflow: query.workflow }) : "/runs"} data-testid="filter-clear" className="px-1 py-1 text-neutral-600 hover:underline">Clear</Link>
        </span>
      </form>

      {error && (
        <p role="alert" data-testid="runs-filter-error" className="mb-3 rounded border border-red-200 bg-red-50 p-2 text-sm text-red-700">
          {error}
        </p>
      )}

      <div className="mb-2 flex min-h-8 flex-wrap items-center gap-2 text-xs" data-testid="runs-bulk-bar">
        <span className="text-neutral-500">{selected.length ? `${selected.length} selected` : "Select runs to act on them"}</span>
        {canAct && (
          <>
            <button type="button" data-testid="bulk-delete" className={button} disabled={pending || !selected.length || !selectedRows.every((r) => ENDED.includes(r.status))}
              title="Delete the selected ended runs with their steps, events and checkpoints (the audit log keeps its entries)"
              onClick={() => window.confirm(`Delete ${selected.length} run(s) with their steps, events and checkpoints?`) && bulk("Deleted", deleteRuns)}>
              Delete
            </button>
            <button type="button" data-testid="bulk-cancel" className={button} disabled={pending || !selected.length} onClick={() => bulk("Cancelled", cancelRuns)}>
              Cancel
            </button>
            <button type="button" data-testid="bulk-resume" className={button} disabled={pending || !selected.length} onClick={() => bulk("Resumed", resumeRuns)}>
              Resume
            </button>
          </>
        )}
        {selected.length === 2 ? (
          <Link data-testid="bulk-compare" className={button} href={`/runs/compare?a=${encodeURIComponent(selected[0])}&b=${encodeURIComponent(selected[1])}`}>
            Compare
          </Link>
        ) : (
          <button type="button" data-testid="bulk-compare" className={button} disabled title="Select two runs to compare them">
            Compare
          </button>
        )}
        {notice && (
          <span role="status" data-testid="runs-notice" className={notice.kind === "ok" ? "text-emerald-700" : "text-red-700"}>
            {notice.text}
          </span>
        )}
      </div>

      {rows.length === 0 ? (
        <p data-testid="runs-empty" className="rounded border border-dashed border-neutral-300 bg-white p-8 text-center text-sm text-neutral-500">
          {Object.keys(query).some((k) => !["sort", "order", "limit"].includes(k)) ? "No runs match these filters." : "No runs yet."}
        </p>
      ) : (
        <table className="w-full rounded border border-neutral-200 bg-white text-sm" data-testid="runs-table">
          <thead className="bg-neutral-50 text-left text-xs text-neutral-500">
            <tr>
              <th className="w-8 px-3 py-2">
                <input type="checkbox" aria-label="select all runs on this page" data-testid="select-all-runs" checked={allSelected} onChange={() => setSelected(allSelected ? [] : rows.map((r) => r.runId))} />
              </th>
              <th className="px-3 py-2 font-medium">Status</th>
              <th className="px-3 py-2 font-medium">Workflow</th>
              <th className="px-3 py-2 font-medium">Started</th>
              <th className="px-3 py-2 font-medium">Duration</th>
              <th className="px-3 py-2 font-medium">Cost</th>
              <th className="px-3 py-2 font-medium">Trigger</th>
              <th className="px-3 py-2 font-medium">Run</th>
              {canAct && <th className="px-3 py-2 font-medium" />}
            </tr>
          </thead>
          <tbody>
            {rows.map((run) => (
              <tr key={run.runId} className="border-t border-neutral-100" data-testid={`run-row-${run.runId}`}>
                <td className="px-3 py-2">
                  <input type="checkbox" aria-label={`select run ${run.runId}`} data-testid={`select-run-${run.runId}`} checked={selected.includes(run.runId)} onChange={() => toggle(run.runId)} />
                </td>
                <td className="px-3 py-2">
                  <StatusBadge status={run.status} />
                  {run.queueReason && <span data-testid={`run-queue-reason-${run.runId}`} className="mt-0.5 block max-w-48 text-[11px] text-amber-800">{run.queueReason}</span>}
                </td>
                <td className="px-3 py-2">
                  <Link href={`/runs/${run.runId}`} className="font-medium hover:underline">{run.workflowName}</Link>
                  {run.workflowVersion && <span className="ml-1 text-xs text-neutral-500">v{run.workflowVersion}</span>}
                  {run.forkOf && (
                    <span data-testid="run-fork-mark" className="ml-2 rounded bg-violet-50 px-1.5 py-0.5 text-[11px] text-violet-700">
                      fork of <Link href={`/runs/${run.forkOf}`} className="font-mono hover:underline">{run.forkOf}</Link>
                    </span>
                  )}
                  {run.resumeCount > 0 && <span data-testid="run-resumed-mark" className="ml-2 rounded bg-amber-50 px-1.5 py-0.5 text-[11px] text-amber-700">resumed</span>}
                </td>
                <td className="px-3 py-2 text-neutral-600">{new Date(run.startedAt ?? run.createdAt).toLocaleString()}</td>
                <td className="px-3 py-2 text-neutral-600">{formatDuration(run.durationMs)}</td>
                <td className="px-3 py-2 text-neutral-600">{formatCost(run.costUsd)}</td>
                <td className="px-3 py-2 text-neutral-500" data-testid="run-trigger">{run.trigger}</td>
                <td className="px-3 py-2 font-mono text-xs">
                  <Link href={`/runs/${run.runId}`} className="text-blue-700 hover:underline">{run.runId}</Link>
                </td>
                {canAct && (
                  <td className="px-3 py-2 text-right">
                    <RunAgainButton runId={run.runId} canLatest={run.workflowVersion !== null} />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <nav className="mt-3 flex gap-3 text-sm" aria-label="pages">
        {paged && (
          <Link href={href(query)} data-testid="runs-first-page" className="text-blue-700 hover:underline">
            ← First page
          </Link>
        )}
        {nextCursor && (
          <Link href={href({ ...query, cursor: nextCursor })} data-testid="runs-next-page" className="text-blue-700 hover:underline">
            Next page →
          </Link>
        )}
      </nav>
    </div>
  );
}
