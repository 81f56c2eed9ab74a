"use client";

import { useRouter } from "next/navigation";
import { useCallback, useEffect, useState, useTransition } from "react";
import { forkRun, resumeFromCheckpoint, runCheckpoints, runCheckpointState } from "@/app/runs/actions";
import { JsonBlock } from "@/components/ui/status";
import type { CheckpointState, CheckpointSummary } from "@/lib/runner/checkpoints";

/** What a fork may edit: the run's input, its variables and each step's output, as one JSON document. */
type EditableState = CheckpointState["values"];

/** Edits as `path → value` for forkRun: every top-level step output, variable or the input that changed. */
export function stateChanges(before: EditableState, after: EditableState): Record<string, unknown> {
  const set: Record<string, unknown> = {};
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (!same(before.input, after.input)) set.input = after.input;
  for (const [name, value] of Object.entries(after.vars ?? {})) if (!same(before.vars?.[name], value)) set[`vars.${name}`] = value;
  for (const [stepId, value] of Object.entries(after.steps ?? {})) if (!same(before.steps?.[stepId], value)) set[`steps.${stepId}`] = value;
  return set;
}

function describeChange(c: CheckpointSummary): string {
  if (c.step < 0) return "run input";
  const parts = [...(c.changed.steps.length ? [`${c.changed.steps.join(", ")} finished`] : []), ...(c.changed.vars ? ["vars changed"] : []), ...(c.changed.input ? ["input set"] : [])];
  return parts.join(" · ") || (c.source === "update" ? "state edited" : "scheduling");
}

/**
 * Time travel on the run page: the run's checkpoints (step, time, what changed). Selecting one shows the full
 * state there and offers "resume from here" (the run re-runs what followed) and "fork" after editing the state
 * (a new run linked to this one). Without `canControl` (view access) the states only.
 */
export function CheckpointBrowser({ runId, runActive, refreshKey, canControl = true }: { runId: string; runActive: boolean; refreshKey: string; canControl?: boolean }) {
  const router = useRouter();
  const [checkpoints, setCheckpoints] = useState<CheckpointSummary[]>();
  const [selected, setSelected] = useState<CheckpointState>();
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string>();
  const [pending, start] = useTransition();

  const load = useCallback(async () => {
    const result = await runCheckpoints(runId);
    if (result.ok) setCheckpoints(result.checkpoints);
    else setError(result.message);
  }, [runId]);
  // Reloaded when the run's status changes (it waits, ends or is resumed), not after every step: the list
  // grows with the run, and its actions wait for the run to stop anyway.
  useEffect(() => {
    void load();
  }, [load, refreshKey]);

  const select = (checkpointId: string) =>
    start(async () => {
      const result = await runCheckpointState(runId, checkpointId);
      if (!result.ok) return setError(result.message);
      setError(undefined);
      setSelected(result.state);
      setDraft(JSON.stringify(result.state.values, null, 2));
    });

  const resumeHere = () =>
    start(async () => {
      const result = await resumeFromCheckpoint(runId, selected!.checkpointId);
      if (!result.ok) return setError(result.message);
      setSelected(undefined);
      router.refresh();
    });

  const fork = () =>
    start(async () => {
      let edited: EditableState;
      try {
        edited = JSON.parse(draft);
      } catch (err) {
        return setError(`The edited state is not valid JSON: ${(err as Error).message}`);
      }
      const result = await forkRun(runId, selected!.checkpointId, stateChanges(selected!.values, edited));
      if (!result.ok) return setError(result.message);
      router.push(`/runs/${result.runId}`);
    });

  return (
    <section data-testid="checkpoints" className="mt-6">
      <h2 className="mb-2 text-sm font-semibold">Checkpoints</h2>
      {!checkpoints ? (
        <p className="text-xs text-neutral-500">Loading…</p>
      ) : checkpoints.length === 0 ? (
        <p className="text-xs text-neutral-500">No checkpoints (kept only for recent runs, see retention).</p>
      ) : (
        <ol className="max-h-72 overflow-y-auto rounded border border-neutral-200 bg-white text-xs">
          {checkpoints.map((c) => (
            <li key={c.checkpointId}>
              <button
                type="button"
                data-testid="checkpoint-row"
                data-checkpoint-id={c.checkpointId}
                data-changed-steps={c.changed.steps.join(",")}
                onClick={() => select(c.checkpointId)}
                className={`flex w-full items-center gap-3 border-b border-neutral-100 px-2 py-1.5 text-left hover:bg-neutral-50 ${selected?.checkpointId === c.checkpointId ? "bg-blue-50" : ""} ${c.current ? "" : "text-neutral-400"}`}
              >
                <span className="w-14 shrink-0 font-mono">step {c.step}</span>
                <span className="w-20 shrink-0 text-neutral-500">{new Date(c.createdAt).toLocaleTimeString()}</span>
                <span className="flex-1 truncate">{describeChange(c)}</span>
                {!c.current && <span className="shrink-0 italic">earlier branch</span>}
                {c.source === "fork" && <span className="shrink-0 rounded bg-neutral-100 px-1">fork start</span>}
              </button>
            </li>
          ))}
        </ol>
      )}
      {error && <p data-testid="checkpoint-error" className="mt-2 text-xs text-red-700">{error}</p>}
      {selected && (
        <div data-testid="checkpoint-detail" className="mt-3 rounded border border-blue-200 bg-white p-3">
          <p className="mb-2 text-xs text-neutral-600">
            Next: {selected.next.length ? selected.next.map((id) => <code key={id} className="mr-1">{id}</code>) : "nothing (the run ended here)"}
          </p>
          <JsonBlock value={selected.values} testId="checkpoint-state" />
          {canControl && (
            <>
              <div className="mt-3 flex flex-wrap items-center gap-2">
                <button
                  type="button"
                  data-testid="resume-from-here"
                  disabled={pending || runActive || selected.next.length === 0}
                  onClick={resumeHere}
                  title={runActive ? "The run is still going" : "Re-run everything after this checkpoint in this run"}
                  className="rounded border border-blue-300 px-2 py-0.5 text-xs font-medium text-blue-700 hover:bg-blue-50 disabled:opacity-40"
                >
                  Resume from here
                </button>
              </div>
              <label className="mt-3 block text-xs font-medium text-neutral-700">
                Edit the state for a fork (input, vars, step outputs)
                <textarea
                  data-testid="fork-state"
                  value={draft}
                  onChange={(e) => setDraft(e.target.value)}
                  rows={10}
                  spellCheck={false}
                  className="mt-1 w-full rounded border border-neutral-300 px-2 py-1 font-mono text-[11px]"
                />
              </label>
              <button
                type="button"
                data-testid="fork-run"
                disabled={pending}
                onClick={fork}
                className="mt-2 rounded bg-blue-600 px-3 py-1 text-xs font-medium text-white hover:bg-blue-700 disabled:opacity-50"
              >
                Fork from here
              </button>
            </>
          )}
        </div>
      )}
    </section>
  );
}
