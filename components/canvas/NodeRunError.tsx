"use client";

import { useEditor } from "./editor-store";

/** Longest error text shown on a node; the whole text is in the tooltip (and the inspector's Run output tab). */
const MAX_SHOWN = 160;

/** The error of a failed step, on its node (editor and run page canvases): `CODE: message`, cut short. */
export function NodeRunError({ stepId }: { stepId: string }) {
  const error = useEditor((s) => {
    const step = s.run?.steps[stepId];
    return step?.status === "failed" ? step.error : undefined;
  });
  if (!error) return null;
  const text = `${error.code}: ${error.message}`;
  return (
    <div
      data-testid={`node-error-${stepId}`}
      title={text}
      className="line-clamp-2 break-words border-t border-red-200 bg-red-50 px-2.5 py-1 font-mono text-[10px] leading-snug text-red-700"
    >
      {text.length > MAX_SHOWN ? `${text.slice(0, MAX_SHOWN - 1)}…` : text}
    </div>
  );
}

/** While a model call of the step waits in a governor line: `waiting for rate limit` and which line. */
export function NodeThrottled({ stepId }: { stepId: string }) {
  const throttled = useEditor((s) => {
    const step = s.run?.steps[stepId];
    return step?.status === "running" ? step.throttled : undefined;
  });
  if (!throttled) return null;
  const why = throttled.reason === "paused" ? "paused after a 429" : throttled.reason === "concurrency" ? "all call slots busy" : throttled.reason === "tokens" ? "tokens per minute" : "requests per minute";
  const title = `${throttled.limit ?? "model"}: ${why}${throttled.waitMs !== undefined ? `, about ${Math.ceil(throttled.waitMs / 1000)} s` : ""}`;
  return (
    <div data-testid={`node-throttled-${stepId}`} title={title} className="truncate border-t border-amber-200 bg-amber-50 px-2.5 py-1 text-[10px] leading-snug text-amber-800">
      waiting for rate limit · {why}
    </div>
  );
}
