"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { runAgain } from "@/app/runs/actions";

/**
 * "Run again": a new run with this run's input, on the definition it ran or (when the workflow is saved) its
 * latest version; opens the new run. Shown on the history's rows and in the run page's header.
 */
export function RunAgainButton({ runId, canLatest }: { runId: string; canLatest: boolean }) {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [error, setError] = useState<string>();
  const go = (useLatestVersion: boolean) =>
    start(async () => {
      const result = await runAgain(runId, { useLatestVersion });
      if (!result.ok) return setError(result.message);
      setError(undefined);
      router.push(`/runs/${result.runId}`);
    });
  const button = "rounded border border-neutral-300 bg-white px-2 py-0.5 text-xs font-medium text-neutral-700 hover:bg-neutral-50 disabled:opacity-50";
  return (
    <span className="inline-flex items-center gap-1">
      <button type="button" data-testid={`run-again-${runId}`} disabled={pending} onClick={() => go(false)} className={button} title="A new run with the same input, on the version this run ran">
        {pending ? "Starting…" : "Run again"}
      </button>
      {canLatest && (
        <button type="button" data-testid={`run-again-latest-${runId}`} disabled={pending} onClick={() => go(true)} className={button} title="A new run with the same input, on the workflow's latest saved version">
          on latest
        </button>
      )}
      {error && (
        <span role="alert" data-testid="run-again-error" className="text-xs text-red-600">
          {error}
        </span>
      )}
    </span>
  );
}
