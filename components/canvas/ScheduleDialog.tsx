"use client";

import { useEffect, useState, useTransition } from "react";
import { addSchedule, editSchedule, pauseSchedule, removeSchedule, resumeSchedule, workflowSchedules } from "@/app/workflows/schedule-actions";
import type { ScheduleView } from "@/lib/schedules/repository";

interface Form {
  name: string;
  kind: "cron" | "interval";
  cron: string;
  timezone: string;
  everyMinutes: string;
  input: string;
  missedPolicy: "run_once" | "skip";
}

const browserZone = () => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
};

const emptyForm = (): Form => ({ name: "", kind: "cron", cron: "0 9 * * 1-5", timezone: browserZone(), everyMinutes: "60", input: "{}", missedPolicy: "run_once" });

const formOf = (s: ScheduleView): Form => ({
  name: s.name,
  kind: s.kind,
  cron: s.cron ?? "0 9 * * 1-5",
  timezone: s.timezone,
  everyMinutes: String(s.everyMinutes ?? 60),
  input: JSON.stringify(s.input, null, 2),
  missedPolicy: s.missedPolicy === "skip" ? "skip" : "run_once",
});

const input = "w-full rounded border border-neutral-300 px-2 py-1 text-sm";

/**
 * The workflow's schedules: each with its timing in words, its next fire times in its own time zone, its last
 * fire, and pause / resume / edit / delete (edit access); add one with a cron expression in a time zone or every N
 * minutes, a fixed input and what happens to fires missed while the server was down.
 */
export function ScheduleDialog({ workflowId, canChange, onClose }: { workflowId: string; canChange: boolean; onClose(): void }) {
  const [schedules, setSchedules] = useState<ScheduleView[]>();
  const [form, setForm] = useState<Form>();
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<string>();
  const [pending, start] = useTransition();

  const reload = () => workflowSchedules(workflowId).then((r) => (r.ok ? setSchedules(r.schedules) : setError(r.message)));
  useEffect(() => {
    void reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [workflowId]);

  const act = (fn: () => Promise<{ ok: boolean; message?: string }>, after?: () => void) =>
    start(async () => {
      const result = await fn();
      if (!result.ok) return setError(result.message);
      setError(undefined);
      after?.();
      await reload();
    });

  const submit = () => {
    if (!form) return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(form.input || "{}");
    } catch {
      return setError("input: not valid JSON");
    }
    const fields = {
      name: form.name,
      kind: form.kind,
      ...(form.kind === "cron" ? { cron: form.cron, timezone: form.timezone } : { everyMinutes: Number(form.everyMinutes) }),
      input: parsed,
      missedPolicy: form.missedPolicy,
    };
    act(() => (editing ? editSchedule(editing, fields) : addSchedule(workflowId, fields)), () => {
      setForm(undefined);
      setEditing(null);
    });
  };

  const set = <K extends keyof Form>(key: K, value: Form[K]) => setForm((f) => (f ? { ...f, [key]: value } : f));

  return (
    <div className="fixed inset-0 z-50 grid place-items-center bg-black/30" role="dialog" aria-modal="true" aria-labelledby="schedules-title" data-testid="schedules-dialog">
      <div className="max-h-[90vh] w-[40rem] space-y-3 overflow-y-auto rounded-lg bg-white p-4 shadow-xl">
        <div className="flex items-center justify-between">
          <h2 id="schedules-title" className="font-semibold">Schedules</h2>
          <button type="button" data-testid="schedules-close" onClick={onClose} aria-label="Close" className="rounded px-2 text-neutral-500 hover:bg-neutral-100">
            ✕
          </button>
        </div>
        {schedules === undefined ? (
          <p className="text-xs text-neutral-500">Loading…</p>
        ) : schedules.length === 0 ? (
          <p className="text-xs text-neutral-500" data-testid="schedules-none">No schedules: this workflow runs only when started.</p>
        ) : (
          <ul className="space-y-2">
            {schedules.map((s) => (
              <li key={s.id} data-testid="schedule-row" data-schedule-id={s.id} className="space-y-1 rounded border border-neutral-200 p-2 text-xs">
                <div className="flex items-center justify-between gap-2">
                  <span className="font-medium text-sm" data-testid="schedule-name">{s.name}</span>
                  <span data-testid="schedule-state" className={s.enabled ? "text-green-700" : "text-amber-700"}>{s.enabled ? "active" : "paused"}</span>
                </div>
                <p data-testid="schedule-description">{s.description}</p>
                <p className="text-neutral-500">
                  Missed fires (server down): {s.missedPolicy === "skip" ? "skipped" : "run once"}
                  {s.ownerName ? ` · runs as ${s.ownerName}` : ""}
                </p>
                {s.upcoming.length > 0 && (
                  <div>
                    <p className="text-neutral-500">Next fire times ({s.kind === "cron" ? s.timezone : "UTC"}):</p>
                    <ol data-testid="schedule-upcoming" className="ml-4 list-decimal font-mono text-[11px]">
                      {s.upcoming.map((u) => (
                        <li key={u.at} title={u.at}>{u.local}</li>
                      ))}
                    </ol>
                  </div>
                )}
                {s.lastFiredAt && (
                  <p data-testid="schedule-last" className={s.lastStatus === "failed" ? "text-red-700" : "text-neutral-600"}>
                    Last fire {new Date(s.lastFiredAt).toLocaleString()}: {s.lastStatus}
                    {s.lastRunId && (
                      <>
                        {" "}
                        (<a className="text-blue-700 hover:underline" href={`/runs/${s.lastRunId}`}>run</a>)
                      </>
                    )}
                    {s.lastError ? ` — ${s.lastError}` : ""}
                  </p>
                )}
                {canChange && (
                  <div className="flex gap-2 pt-1">
                    {s.enabled ? (
                      <button type="button" data-testid="schedule-pause" disabled={pending} onClick={() => act(() => pauseSchedule(s.id))} className="rounded border border-neutral-300 px-2 py-0.5 hover:bg-neutral-50 disabled:opacity-50">
                        Pause
                      </button>
                    ) : (
                      <button type="button" data-testid="schedule-resume" disabled={pending} onClick={() => act(() => resumeSchedule(s.id))} className="rounded border border-neutral-300 px-2 py-0.5 hover:bg-neutral-50 disabled:opacity-50">
                        Resume
                      </button>
                    )}
                    <button
                      type="button"
                      data-testid="schedule-edit"
                      disabled={pending}
                      onClick={() => {
                        setEditing(s.id);
                        setForm(formOf(s));
                      }}
                      className="rounded border border-neutral-300 px-2 py-0.5 hover:bg-neutral-50 disabled:opacity-50"
                    >
                      Edit
                    </button>
                    <button type="button" data-testid="schedule-delete" disabled={pending} onClick={() => act(() => removeSchedule(s.id))} className="rounded border border-red-300 px-2 py-0.5 text-red-700 hover:bg-red-50 disabled:opacity-50">
                      Delete
                    </button>
                  </div>
                )}
              </li>
            ))}
          </ul>
        )}
        {canChange && !form && (
          <button type="button" data-testid="schedule-add" onClick={() => (setEditing(null), setForm(emptyForm()))} className="rounded bg-neutral-900 px-3 py-1 text-sm font-medium text-white">
            Add schedule
          </button>
        )}
        {canChange && form && (
          <form
            data-testid="schedule-form"
            className="space-y-2 rounded border border-neutral-200 p-2 text-xs"
            onSubmit={(e) => {
              e.preventDefault();
              submit();
            }}
          >
            <label className="block">
              Name
              <input data-testid="schedule-form-name" className={input} maxLength={100} value={form.name} onChange={(e) => set("name", e.target.value)} />
            </label>
            <label className="block">
              Timing
              <select data-testid="schedule-form-kind" className={input} value={form.kind} onChange={(e) => set("kind", e.target.value as Form["kind"])}>
                <option value="cron">Cron expression in a time zone</option>
                <option value="interval">Every N minutes</option>
              </select>
            </label>
            {form.kind === "cron" ? (
              <div className="flex gap-2">
                <label className="block flex-1">
                  Cron (minute hour day-of-month month day-of-week)
                  <input data-testid="schedule-form-cron" className={`${input} font-mono`} maxLength={120} value={form.cron} onChange={(e) => set("cron", e.target.value)} />
                </label>
                <label className="block flex-1">
                  Time zone (IANA)
                  <input data-testid="schedule-form-timezone" className={input} maxLength={64} value={form.timezone} onChange={(e) => set("timezone", e.target.value)} />
                </label>
              </div>
            ) : (
              <label className="block">
                Every how many minutes (1 to 525600; counted from midnight UTC)
                <input data-testid="schedule-form-every" type="number" min={1} max={525600} className={input} value={form.everyMinutes} onChange={(e) => set("everyMinutes", e.target.value)} />
              </label>
            )}
            <label className="block">
              Input (JSON, checked against the workflow&apos;s input schema)
              <textarea data-testid="schedule-form-input" className={`${input} h-20 font-mono`} value={form.input} onChange={(e) => set("input", e.target.value)} />
            </label>
            <label className="block">
              Fires missed while the server was down
              <select data-testid="schedule-form-missed" className={input} value={form.missedPolicy} onChange={(e) => set("missedPolicy", e.target.value as Form["missedPolicy"])}>
                <option value="run_once">Run once when back (the missed fires count as one)</option>
                <option value="skip">Skip them</option>
              </select>
            </label>
            <div className="flex gap-2">
              <button type="submit" data-testid="schedule-form-save" disabled={pending} className="rounded bg-neutral-900 px-3 py-1 text-sm font-medium text-white disabled:opacity-50">
                {editing ? "Save schedule" : "Add"}
              </button>
              <button type="button" onClick={() => (setForm(undefined), setEditing(null))} className="rounded border border-neutral-300 px-3 py-1 text-sm">
                Cancel
              </button>
            </div>
          </form>
        )}
        {error && (
          <p data-testid="schedules-error" role="alert" className="rounded bg-red-50 px-2 py-1 text-xs text-red-700">
            {error}
          </p>
        )}
      </div>
    </div>
  );
}
