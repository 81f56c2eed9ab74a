import type { RunEvent, RunStatus, StepStatus } from "@/lib/runner/event-types";

/**
 * A run as a trace: one bar per step execution on the run's time axis, built from the run's event log (the
 * step records keep only the last start of an execution: an approval's resume overwrites it, and a map item's
 * attempts are one row). Pure and incremental: the server builds it from the stored events, the run page then
 * applies the live ones on top, so the timeline grows while the run goes on.
 *
 * Segments of a bar: `attempt` (the executor at work; a retried step has one per attempt), `backoff` (the pause
 * before the next attempt: the retry event's `delayMs`, exact since the runner sleeps exactly that long), and
 * `waiting` (for a person or an outside system: from the step's `waiting` event to its next start or its end),
 * and `throttled` (a model call waiting in a governor line: from `step.throttle` waiting to resumed).
 */

export interface TimelineSpan {
  kind: "attempt" | "backoff" | "waiting" | "throttled";
  start: number;
  /** Absent while it goes on. */
  end?: number;
  attempt?: number;
  error?: { code: string; message: string };
  /** For `waiting`: what it waits for (approval, callback, subworkflow); for `throttled`: the governor line. */
  waitKind?: string;
}

export interface TimelineBar {
  /** `<stepId>#<execution>` */
  key: string;
  stepId: string;
  execution: number;
  status: StepStatus;
  start: number;
  end?: number;
  spans: TimelineSpan[];
  attempts: number;
  error?: { code: string; message: string };
  /** A map item's step (`map[3].summarise`): the key of its map's bar and the item's index. */
  parentKey?: string;
  item?: number;
  /** A sub-workflow step: the child run (when known). */
  childRunId?: string;
  /** From the step record, when the timeline is loaded or the page refreshed. */
  stepType?: string;
  tokens?: number;
  costUsd?: number | null;
}

export interface Timeline {
  runId: string;
  status: RunStatus;
  /** The last event included: live events after it are applied on top. */
  lastSeq: number;
  start?: number;
  end?: number;
  bars: Record<string, TimelineBar>;
  /** Top-level bars (steps of the workflow itself) in the order they first started. */
  order: string[];
  /** Item bars of each map bar, in the order they started. */
  items: Record<string, string[]>;
}

export const emptyTimeline = (runId: string, status: RunStatus = "queued"): Timeline => ({ runId, status, lastSeq: 0, bars: {}, order: [], items: {} });

const ENDED: StepStatus[] = ["succeeded", "failed", "cancelled"];
const RUN_ENDED: RunStatus[] = ["succeeded", "failed", "cancelled"];

/** `map[3].step` → the map step `map` and item 3 (the last `[n].` names the innermost map). */
export function mapItemOf(stepId: string): { mapStepId: string; item: number } | null {
  const match = /^(.+)\[(\d+)\]\.[^[\]]+$/.exec(stepId);
  return match ? { mapStepId: match[1], item: Number(match[2]) } : null;
}

const short = (error: { code: string; message: string } | undefined) => (error ? { code: error.code, message: error.message.slice(0, 500) } : undefined);

/**
 * Applies events in seq order; ones already included (seq at or below `lastSeq`) and other runs' are skipped.
 * The same timeline comes back when nothing applies; otherwise the bars map is copied once per call and only the
 * bars an event touches are copied, so a catch-up of thousands of events costs one pass.
 */
export function applyTimelineEvents(timeline: Timeline, events: readonly RunEvent[]): Timeline {
  let next: Timeline | null = null;
  const touched = new Set<string>();
  const draft = () => (next ??= { ...timeline, bars: { ...timeline.bars }, order: timeline.order, items: timeline.items });
  const own = (key: string): TimelineBar | undefined => {
    const t = draft();
    const bar = t.bars[key];
    if (!bar || touched.has(key)) return bar;
    touched.add(key);
    return (t.bars[key] = { ...bar, spans: bar.spans.map((s) => ({ ...s })) });
  };
  const closeOpen = (bar: TimelineBar, at: number) => {
    for (const span of bar.spans) if (span.end === undefined) span.end = Math.max(span.start, at);
    // A pause before an attempt that never came (cancelled during the backoff) keeps only what happened.
    bar.spans = bar.spans.filter((s) => s.end! > s.start || s.kind !== "attempt" || s.start <= at);
  };
  const create = (stepId: string, execution: number, start: number): TimelineBar => {
    const t = draft();
    const key = `${stepId}#${execution}`;
    const parent = mapItemOf(stepId);
    const bar: TimelineBar = { key, stepId, execution, status: "running", start, spans: [], attempts: 1 };
    if (parent) {
      bar.parentKey = `${parent.mapStepId}#${execution}`;
      bar.item = parent.item;
      const items = t.items === timeline.items ? (t.items = { ...timeline.items }) : t.items;
      items[bar.parentKey] = [...(items[bar.parentKey] ?? []), key];
    } else {
      if (t.order === timeline.order) t.order = [...timeline.order];
      t.order.push(key);
    }
    t.bars[key] = bar;
    touched.add(key);
    return bar;
  };

  for (const event of events) {
    const current: Timeline = next ?? timeline;
    if (event.runId !== timeline.runId || event.seq <= current.lastSeq) continue;
    const t = draft();
    t.lastSeq = event.seq;
    const at = Date.parse(event.at);
    if (event.type === "run.status") {
      t.status = event.status;
      if (event.status === "running") {
        t.start ??= at;
        t.end = undefined;
      }
      if (RUN_ENDED.includes(event.status)) {
        t.end = at;
        // Nothing goes on after the run ended (a step the event log saw no end of: a crash, an old run).
        for (const key of Object.keys(t.bars)) {
          const bar = t.bars[key];
          if (bar.end !== undefined) continue;
          const mine = own(key)!;
          closeOpen(mine, at);
          mine.end = at;
          if (!ENDED.includes(mine.status)) mine.status = event.status === "cancelled" ? "cancelled" : mine.status === "waiting" ? "cancelled" : "failed";
        }
      }
      continue;
    }
    if (event.type === "step.log") continue;
    if (event.type === "step.throttle") {
      const key = `${event.stepId}#${event.execution}`;
      const bar = own(key) ?? create(event.stepId, event.execution, at);
      closeOpen(bar, at);
      if (event.state === "waiting") bar.spans.push({ kind: "throttled", start: at, ...(event.limit ? { waitKind: event.limit } : {}) });
      else bar.spans.push({ kind: "attempt", start: at, attempt: bar.attempts });
      continue;
    }
    if (event.type === "step.status" && event.status === "queued") continue;
    const key = `${event.stepId}#${event.execution}`;
    if (event.type === "step.retry") {
      const bar = own(key) ?? create(event.stepId, event.execution, at);
      closeOpen(bar, at);
      const last = [...bar.spans].reverse().find((s) => s.kind === "attempt");
      if (last) last.error = short(event.error);
      else bar.spans.push({ kind: "attempt", start: bar.start, end: at, attempt: event.attempt, error: short(event.error) });
      bar.spans.push({ kind: "backoff", start: at, end: at + event.delayMs, attempt: event.attempt });
      bar.spans.push({ kind: "attempt", start: at + event.delayMs, attempt: event.attempt + 1 });
      bar.attempts = event.attempt + 1;
      bar.status = "running";
      continue;
    }
    // step.status running / waiting / succeeded / failed / cancelled
    if (event.status === "running") {
      let bar = own(key);
      if (!bar) {
        bar = create(event.stepId, event.execution, at);
        bar.spans.push({ kind: "attempt", start: at, attempt: 1 });
      } else {
        // Started again: after a wait (the decision resumed it) or after a takeover (in flight at a crash).
        closeOpen(bar, at);
        bar.end = undefined;
        bar.spans.push({ kind: "attempt", start: at, attempt: bar.attempts });
      }
      bar.status = "running";
      continue;
    }
    let bar = own(key);
    if (!bar) {
      // Ended without a start in the log (failed before it started, settled after a crash): its duration says when.
      bar = create(event.stepId, event.execution, at - (event.durationMs ?? 0));
      bar.spans.push({ kind: "attempt", start: bar.start, attempt: 1 });
    }
    closeOpen(bar, at);
    bar.status = event.status;
    if (event.status === "waiting") {
      const request = event.output as { kind?: string; childRunId?: string } | undefined;
      bar.spans.push({ kind: "waiting", start: at, ...(request?.kind ? { waitKind: request.kind } : {}) });
      if (request?.childRunId) bar.childRunId = request.childRunId;
      bar.end = undefined;
      continue;
    }
    bar.end = at;
    if (event.attempts) bar.attempts = event.attempts;
    bar.error = short(event.error);
    // The failed attempt is the last one: carry its error onto its span.
    if (event.error) {
      const last = [...bar.spans].reverse().find((s) => s.kind === "attempt");
      if (last && !last.error) last.error = short(event.error);
    }
  }
  return next ?? timeline;
}

/** Step-record facts for the bars (type, tokens, cost, the child run of a sub-workflow step). */
export interface TimelineRecordFacts {
  stepId: string;
  execution: number;
  stepType?: string;
  tokens?: number;
  costUsd?: number | null;
  childRunId?: string;
}

/** Adds what the step records know to the bars they belong to (same timeline back when nothing changes). */
export function withRecordFacts(timeline: Timeline, records: readonly TimelineRecordFacts[]): Timeline {
  let bars: Record<string, TimelineBar> | null = null;
  for (const record of records) {
    const key = `${record.stepId}#${record.execution}`;
    const bar = (bars ?? timeline.bars)[key];
    if (!bar) continue;
    const patch: Partial<TimelineBar> = {};
    if (record.stepType !== undefined && bar.stepType !== record.stepType) patch.stepType = record.stepType;
    if (record.tokens !== undefined && bar.tokens !== record.tokens) patch.tokens = record.tokens;
    if (record.costUsd !== undefined && bar.costUsd !== record.costUsd) patch.costUsd = record.costUsd;
    if (record.childRunId !== undefined && bar.childRunId !== record.childRunId) patch.childRunId = record.childRunId;
    if (!Object.keys(patch).length) continue;
    bars ??= { ...timeline.bars };
    bars[key] = { ...bar, ...patch };
  }
  return bars ? { ...timeline, bars } : timeline;
}

/** The time range the axis shows: the run's start (or its first bar's) to its end, or `now` while it goes on. */
export function timelineRange(timeline: Timeline, now: number): { start: number; end: number } {
  let start = timeline.start ?? Infinity;
  let end = timeline.end ?? -Infinity;
  for (const key of timeline.order) {
    const bar = timeline.bars[key];
    start = Math.min(start, bar.start);
    if (timeline.end === undefined) end = Math.max(end, bar.end ?? now);
  }
  if (!Number.isFinite(start)) start = now;
  if (timeline.end === undefined && !RUN_ENDED.includes(timeline.status)) end = Math.max(end, now);
  if (!Number.isFinite(end) || end <= start) end = start + 1;
  return { start, end };
}
