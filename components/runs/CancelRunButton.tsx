"use client";

import { useState, useTransition } from "react";
import { cancelRun } from "@/app/runs/actions";

/** Shown while a run is queued or running. */
export function CancelRunButton({ runId }: { runId: string }) {
  const [pending, start] = useTransition();
  const [error, setError] = useState<string>();
  return (
    <>
      <button
        type="button"
        data-testid="cancel-run"
        disabled={pending}
        onClick={() =>
          start(async () => {
            const result = await cancelRun(runId);
            setError(result.ok ? undefined : result.message);
          })
        }
        className="rounded border border-red-300 px-2 py-0.5 text-xs font-medium text-red-700 hover:bg-red-50 disabled:opacity-50"
      >
        {pending ? "Cancelling…" : "Cancel run"}
      </button>
      {error && <span className="text-xs text-red-600">{error}</span>}
    </>
  );
}
