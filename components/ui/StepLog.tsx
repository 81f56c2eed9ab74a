/** A step's log lines (console output of a code step), as the inspector and the run page show them. */
export function StepLog({ lines, testId }: { lines: Array<{ level: string; text: string }>; testId?: string }) {
  if (!lines.length) return null;
  return (
    <div>
      <h3 className="mb-1 text-xs font-medium text-neutral-600">Log</h3>
      <pre data-testid={testId} className="max-h-48 overflow-auto rounded border border-neutral-200 bg-neutral-50 p-2 font-mono text-[11px] leading-relaxed">
        {lines.map((line, i) => (
          <div key={i} className={line.level === "error" ? "text-red-700" : line.level === "warn" ? "text-amber-800" : "text-neutral-800"}>
            {line.level !== "log" && <span className="mr-1 uppercase opacity-60">{line.level}</span>}
            {line.text}
          </div>
        ))}
      </pre>
    </div>
  );
}
