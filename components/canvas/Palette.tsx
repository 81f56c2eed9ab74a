"use client";

import { stepKindList } from "@/lib/workflow/step-kinds";

export const DRAG_MIME = "application/x-orchestrator-step";

/** Step kinds from the registry: drag onto the canvas, or click to add below the last step. */
export function Palette({ onAdd }: { onAdd(kind: string): void }) {
  return (
    <aside className="w-48 shrink-0 border-r border-neutral-200 bg-white p-3">
      <h2 className="mb-2 text-xs font-semibold uppercase tracking-wide text-neutral-500">Steps</h2>
      <ul className="space-y-1.5">
        {stepKindList.map((kind) => (
          <li key={kind.kind}>
            <button
              type="button"
              draggable
              data-testid={`palette-${kind.kind}`}
              onDragStart={(event) => {
                event.dataTransfer.setData(DRAG_MIME, kind.kind);
                event.dataTransfer.effectAllowed = "move";
              }}
              onClick={() => onAdd(kind.kind)}
              title={kind.description}
              className="flex w-full cursor-grab items-center gap-2 rounded border border-neutral-200 px-2 py-1.5 text-left text-sm hover:border-neutral-400 hover:bg-neutral-50 active:cursor-grabbing"
            >
              <span className="w-4 text-center">{kind.icon}</span>
              <span className="font-medium">{kind.label}</span>
            </button>
          </li>
        ))}
      </ul>
      <p className="mt-4 text-[11px] leading-snug text-neutral-500">
        Drag a step onto the canvas, then connect handles. Several edges out of one step run in parallel; a condition routes on its true/false handles.
      </p>
    </aside>
  );
}
