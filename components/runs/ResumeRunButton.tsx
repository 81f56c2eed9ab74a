"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { resumeRun } from "@/app/runs/actions";

/**
 * Shown on a failed or cancelled run: resumes it from the failed step (finished steps are not run again).
 * When the workflow has a newer saved version (the user fixed a step), it can resume on that one.
 */
export function ResumeRunButton({ runId, runVersion, latestVersion }: { runId: string; runVersion: number | null; latestVersion: number | null }) {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [error, setError] = useState<string>();
  const newer = latestVersion !== null && runVersion !== null && latestVersion > runVersion;
  const [useLatest, setUseLatest] = useState(newer);
  return (
    <span className="inline-flex items-center gap-2">
      <button
        type="button"
        data-testid="resume-run"
        disabled={pending}
        onClick={() =>
          start(async () => {
            const result = await resumeRun(runId, { useLatestVersion: newer && useLatest });
            setError(result.ok ? undefined : result.message);
            if (result.ok) router.refresh();
          })
        }
        className="rounded border border-blue-300 px-2 py-0.5 text-xs font-medium text-blue-700 hover:bg-blue-50 disabled:opacity-50"
      >
        {pending ? "Resuming…" : "Resume from failed step"}
      </button>
      {newer && (
        <label className="inline-flex items-center gap-1 text-xs text-neutral-600">
          <input type="checkbox" data-testid="resume-latest" checked={useLatest} onChange={(e) => setUseLatest(e.target.checked)} />
          with the latest version (v{latestVersion})
        </label>
      )}
      {error && <span data-testid="resume-error" className="text-xs text-red-600">{error}</span>}
    </span>
  );
}
