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
