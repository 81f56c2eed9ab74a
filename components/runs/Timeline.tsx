"use client";

import Link from "next/link";
import { memo, useCallback, useEffect, useMemo, useRef, useState, type CSSProperties } from "react";
import { runTimeline } from "@/app/runs/[runId]/actions";
import { formatCost, formatDuration } from "@/components/ui/status";
import type { RunEvent } from "@/lib/runner/event-types";
import { applyTimelineEvents, timelineRange, withRecordFacts, type Timeline as RunTimeline, type TimelineBar, type TimelineRecordFacts, type TimelineSpan } from "@/lib/runner/timeline";
import type { TimelineFeed } from "./timeline-feed";

/** A bar the user selected: its run (a sub-workflow run's bars are nested), record and the step it is on the canvas. */
export interface TimelineSelection {
  runId: string;
  key: string;
  stepId: string;
  execution: number;
  /** The step of the page's workflow it belongs to (a map item's map, a sub-workflow step's step). */
  canvasStepId: string;
}

const ROW_HEIGHT = 22;
const MAX_HEIGHT = 330;
/** Rows rendered beyond the visible ones on each side (scrolling a few rows needs no render). */
const OVERSCAN = 8;
const LABEL_WIDTH = 200;

interface Row {
  key: string;
  runId: string;
  depth: number;
  bar: TimelineBar;
  canvasStepId: string;
  /** Map items or a sub-workflow run below this row. */
  expandable?: { kind: "items"; count: number } | { kind: "child"; childRunId: string };
  expanded: boolean;
}

type ChildState = { timeline: RunTimeline } | { error: string } | "loading";

const rowId = (runId: string, key: string) => `${runId}/${key}`;

/**
 * The run as a Gantt chart: one row per step execution on a shared time axis, so lanes running in parallel
 * overlap in time on rows of their own; retries are segments of the bar, waits (approval, callback, a waiting
 * sub-workflow) and retry pauses shaded; a map's items and a sub-workflow's run expand below their step. Only
 * the rows in view are rendered (a 1,000-step run is 1,000 rows). Loaded after the page opened (a server action),
 * then kept up to date by the page's live events (`feed`).
 */
export function Timeline({
  runId,
  feed,
  records,
  subRuns,
  selected,
  onSelect,
}: {
  runId: string;
  feed: TimelineFeed;
  /** What the page's step records know (type, tokens, cost), newer than the loaded timeline after a refresh. */
  records: readonly TimelineRecordFacts[];
  subRuns: ReadonlyArray<{ runId: string; stepId: string }>;
  selected: TimelineSelection | null;
  onSelect(selection: TimelineSelection): void;
}) {
  const [timeline, setTimeline] = useState<RunTimeline | null>(null);
  const [failure, setFailure] = useState<string | null>(null);
  const [truncated, setTruncated] = useState(false);
  const [reloads, setReloads] = useState(0);
  const [expanded, setExpanded] = useState<ReadonlySet<string>>(() => new Set());
  const [children, setChildren] = useState<Record<string, ChildState>>({});

  // Load, then apply the page's live events after what was loaded; a gap (the page subscribed again from a newer
  // state, e.g. after a resume) loads again.
  useEffect(() => {
    let cancelled = false;
    let current: RunTimeline | null = null;
    let early: RunEvent[] = [];
    const take = (events: RunEvent[]) => {
      if (!current) {
        early = early.concat(events);
        return;
      }
      const fresh = events.filter((e) => e.seq > current!.lastSeq);
      if (!fresh.length) return;
      if (fresh[0].seq > current.lastSeq + 1) {
        setReloads((n) => n + 1);
        return;
      }
      current = applyTimelineEvents(current, fresh);
      setTimeline(current);
    };
    const unsubscribe = feed.subscribe(take);
    void runTimeline(runId).then(
      (answer) => {
        if (cancelled) return;
        if (!answer.ok) return setFailure(answer.message);
        const { truncated: cut, ...loaded } = answer.timeline;
        setTruncated(cut);
        current = loaded;
        setTimeline(current);
        if (cut) return unsubscribe();
        const held = early;
        early = [];
        take(held);
      },
      () => !cancelled && setFailure("the timeline could not be loaded"),
    );
    return () => {
      cancelled = true;
      unsubscribe();
    };
  }, [runId, feed, reloads]);

  const shown = useMemo(() => {
    if (!timeline) return null;
    const known = new Map(subRuns.map((s) => [s.stepId, s.runId]));
    const facts = records.map((r) => (r.stepType === "workflow" && !timeline.bars[`${r.stepId}#${r.execution}`]?.childRunId && known.has(r.stepId) ? { ...r, childRunId: known.get(r.stepId) } : r));
    return withRecordFacts(timeline, facts);
  }, [timeline, records, subRuns]);

  const toggle = useCallback((row: Row) => {
    const id = rowId(row.runId, row.key);
    setExpanded((previous) => {
      const next = new Set(previous);
      if (!next.delete(id)) next.add(id);
      return next;
    });
    // A sub-workflow run is loaded each time it is opened (it may have gone on since).
    if (!row.expanded && row.expandable?.kind === "child") {
      const childRunId = row.expandable.childRunId;
      setChildren((previous) => ({ ...previous, [childRunId]: "loading" }));
      void runTimeline(childRunId).then(
        (answer) => setChildren((previous) => ({ ...previous, [childRunId]: answer.ok ? { timeline: answer.timeline } : { error: answer.message } })),
        () => setChildren((previous) => ({ ...previous, [childRunId]: { error: "could not be loaded" } })),
      );
    }
  }, []);

  const rows = useMemo(() => (shown ? rowsOf(shown, expanded, children) : []), [shown, expanded, children]);
  const active = !!shown && shown.end === undefined && !["succeeded", "failed", "cancelled"].includes(shown.status);
  const now = useNow(active);

  if (failure) return <p data-testid="timeline-error" className="text-xs text-red-700">Timeline: {failure}</p>;
  if (!shown) return <p data-testid="timeline-loading" className="h-8 text-xs text-neutral-500">Loading the timeline…</p>;
  const range = timelineRange(shown, now);
  return (
    <div data-testid="timeline" data-status={shown.status} className="rounded border border-neutral-200 bg-white text-xs">
      <Axis range={range} />
      {rows.length === 0 ? (
        <p className="px-2 py-3 text-neutral-500">No step has started yet.</p>
      ) : (
        <Rows rows={rows} range={range} now={now} selected={selected} onSelect={onSelect} onToggle={toggle} childStates={children} />
      )}
      {truncated && <p className="px-2 py-1 text-amber-800">The run has more events than a timeline shows; the first ones are drawn.</p>}
    </div>
  );
}

/** The time now, every half second while the run goes on (bars in progress grow to it). */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(timer);
  }, [active]);
  return now;
}

/** Rows in display order: top-level bars, each followed by its expanded map items or sub-workflow run. */
function rowsOf(timeline: RunTimeline, expanded: ReadonlySet<string>, children: Record<string, ChildState>, depth = 0, canvasStepId?: string, out: Row[] = []): Row[] {
  const add = (key: string, level: number, top: string | undefined) => {
    const bar = timeline.bars[key];
    const items = timeline.items[key];
    const expandable: Row["expandable"] = items?.length ? { kind: "items", count: items.length } : bar.childRunId ? { kind: "child", childRunId: bar.childRunId } : undefined;
    const isOpen = expanded.has(rowId(timeline.runId, key));
    const row: Row = { key, runId: timeline.runId, depth: level, bar, canvasStepId: top ?? bar.stepId, expandable, expanded: isOpen };
    out.push(row);
    if (!isOpen || !expandable) return;
    if (expandable.kind === "items") for (const item of items) add(item, level + 1, row.canvasStepId);
    else {
      const child = children[expandable.childRunId];
      if (child && child !== "loading" && "timeline" in child) rowsOf(child.timeline, expanded, children, level + 1, row.canvasStepId, out);
    }
  };
  for (const key of timeline.order) add(key, depth, canvasStepId);
  return out;
}

function Axis({ range }: { range: { start: number; end: number } }) {
  const span = range.end - range.start;
  return (
    <div className="flex border-b border-neutral-200 text-[10px] text-neutral-500">
      <div style={{ width: LABEL_WIDTH }} className="shrink-0 px-2 py-1 font-medium">
        Step
      </div>
      <div className="relative h-5 flex-1" data-testid="timeline-axis">
        {[0, 0.25, 0.5, 0.75, 1].map((f) => (
          <span key={f} className="absolute top-1" style={f === 1 ? { right: 4 } : { left: `calc(${f * 100}% + 2px)` }} data-testid={f === 1 ? "timeline-axis-end" : undefined}>
            {formatDuration(Math.round(span * f))}
          </span>
        ))}
      </div>
    </div>
  );
}

function Rows({
  rows,
  range,
  now,
  selected,
  onSelect,
  onToggle,
  childStates,
}: {
  rows: Row[];
  range: { start: number; end: number };
  now: number;
  selected: TimelineSelection | null;
  onSelect(selection: TimelineSelection): void;
  onToggle(row: Row): void;
  childStates: Record<string, ChildState>;
}) {
  const [scrollTop, setScrollTop] = useState(0);
  const [hover, setHover] = useState<{ row: Row; x: number; y: number } | null>(null);
  const frame = useRef<number | undefined>(undefined);
  const container = useRef<HTMLDivElement>(null);
  const height = Math.min(rows.length * ROW_HEIGHT, MAX_HEIGHT);
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(rows.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
  const onScroll = () => {
    if (frame.current !== undefined) return;
    frame.current = requestAnimationFrame(() => {
      frame.current = undefined;
      setScrollTop(container.current?.scrollTop ?? 0);
    });
  };
  useEffect(() => () => void (frame.current !== undefined && cancelAnimationFrame(frame.current)), []);
  // Selecting on the canvas scrolls the timeline to the bar.
  const selectedIndex = selected ? rows.findIndex((r) => r.runId === selected.runId && r.key === selected.key) : -1;
  useEffect(() => {
    const element = container.current;
    if (!element || selectedIndex < 0) return;
    const top = selectedIndex * ROW_HEIGHT;
    if (top < element.scrollTop || top + ROW_HEIGHT > element.scrollTop + element.clientHeight) element.scrollTop = Math.max(0, top - element.clientHeight / 2);
  }, [selectedIndex]);

  const visible = rows.slice(first, last);
  return (
    <div className="relative">
      <div ref={container} onScroll={onScroll} style={{ height }} className="overflow-y-auto" data-testid="timeline-rows" data-rows={rows.length}>
        <div style={{ height: rows.length * ROW_HEIGHT, position: "relative" }}>
          {visible.map((row, i) => (
            <TimelineRow
              key={rowId(row.runId, row.key)}
              row={row}
              top={(first + i) * ROW_HEIGHT}
              range={range}
              now={row.bar.end === undefined ? now : 0}
              isSelected={selectedIndex === first + i}
              onSelect={onSelect}
              onToggle={onToggle}
              onHover={setHover}
              childState={row.expandable?.kind === "child" ? childStates[row.expandable.childRunId] : undefined}
            />
          ))}
        </div>
      </div>
      {hover && <Tooltip row={hover.row} x={hover.x} y={hover.y} now={now} />}
    </div>
  );
}

/** Shaded, not filled: time the step did not work (a pause before a retry, a wait for a person or a callback). */
const SHADES: Record<string, CSSProperties> = {
  backoff: { background: "repeating-linear-gradient(135deg, #d4d4d4 0 3px, #f5f5f5 3px 6px)" },
  waiting: { background: "repeating-linear-gradient(135deg, #fcd34d 0 3px, #fffbeb 3px 6px)" },
  throttled: { background: "repeating-linear-gradient(135deg, #fdba74 0 3px, #fff7ed 3px 6px)" },
};

/** The bar under its segments: what shows of a step that took no measurable time (a 0 ms transform). */
const STATUS_FILL: Record<string, string> = {
  succeeded: "bg-emerald-500",
  failed: "bg-red-400",
  cancelled: "bg-amber-400",
  running: "bg-blue-500",
  waiting: "bg-amber-300",
};

const spanClass = (span: TimelineSpan, bar: TimelineBar): string => {
  if (span.kind !== "attempt") return "";
  if (span.error) return bar.status === "cancelled" ? "bg-amber-400" : "bg-red-400";
  if (span.end === undefined) return "bg-blue-500 animate-pulse";
  return bar.status === "cancelled" ? "bg-amber-400" : bar.status === "failed" ? "bg-red-400" : "bg-emerald-500";
};

const TimelineRow = memo(function TimelineRow({
  row,
  top,
  range,
  now,
  isSelected,
  onSelect,
  onToggle,
  onHover,
  childState,
}: {
  row: Row;
  top: number;
  range: { start: number; end: number };
  /** 0 for a bar that ended (it does not change with the time). */
  now: number;
  isSelected: boolean;
  onSelect(selection: TimelineSelection): void;
  onToggle(row: Row): void;
  onHover(hover: { row: Row; x: number; y: number } | null): void;
  childState: ChildState | undefined;
}) {
  const { bar } = row;
  const total = range.end - range.start;
  const end = bar.end ?? Math.max(now, bar.start);
  const left = ((bar.start - range.start) / total) * 100;
  const width = ((end - bar.start) / total) * 100;
  const barStyle: CSSProperties = { left: `${Math.max(0, left)}%`, width: `max(3px, ${Math.min(100, width)}%)` };
  const select = () => onSelect({ runId: row.runId, key: row.key, stepId: bar.stepId, execution: bar.execution, canvasStepId: row.canvasStepId });
  const length = end - bar.start || 1;
  const label = row.depth > 0 && bar.item !== undefined ? bar.stepId.slice(bar.stepId.lastIndexOf("[")) : bar.stepId;
  return (
    <div
      data-testid={`timeline-row-${row.key}`}
      className={`absolute inset-x-0 flex items-center ${isSelected ? "bg-sky-50" : "hover:bg-neutral-50"}`}
      style={{ top, height: ROW_HEIGHT }}
    >
      <div style={{ width: LABEL_WIDTH, paddingLeft: 8 + row.depth * 12 }} className="flex shrink-0 items-center gap-1 overflow-hidden whitespace-nowrap pr-1">
        {row.expandable ? (
          <button
            type="button"
            data-testid={`timeline-expand-${row.key}`}
            onClick={() => onToggle(row)}
            className="w-3 text-neutral-500 hover:text-neutral-900"
            aria-label={row.expanded ? "collapse" : "expand"}
            aria-expanded={row.expanded}
          >
            {row.expanded ? "▾" : "▸"}
          </button>
        ) : (
          <span className="w-3" />
        )}
        <button type="button" onClick={select} className="truncate text-left font-medium hover:underline" title={bar.stepId}>
          {label}
        </button>
        {bar.execution > 1 && <span className="text-[10px] text-neutral-500">#{bar.execution}</span>}
        {row.expandable?.kind === "items" && <span className="text-[10px] text-neutral-500">{row.expandable.count} items</span>}
        {row.expandable?.kind === "child" && (
          <Link href={`/runs/${row.expandable.childRunId}`} className="text-[10px] text-blue-700 hover:underline" data-testid={`timeline-child-link-${row.key}`}>
            run{childState === "loading" ? " …" : childState && "error" in childState ? ` (${childState.error})` : ""}
          </Link>
        )}
      </div>
      <div className="relative h-full flex-1">
        <div
          role="button"
          tabIndex={-1}
          data-testid={`timeline-bar-${row.key}`}
          data-status={bar.status}
          data-attempts={bar.attempts}
          onClick={select}
          onMouseMove={(e) => onHover({ row, x: e.clientX, y: e.clientY })}
          onMouseLeave={() => onHover(null)}
          className={`absolute top-[4px] h-[14px] cursor-pointer overflow-hidden rounded-sm ${STATUS_FILL[bar.status] ?? "bg-neutral-300"} ${isSelected ? "ring-2 ring-neutral-900" : ""}`}
          style={barStyle}
        >
          {bar.spans.map((span, i) => {
            const spanEnd = span.end ?? end;
            return (
              <span
                key={i}
                data-kind={span.kind}
                title={span.kind === "throttled" ? `waiting for rate limit (${span.waitKind ?? "model"})` : undefined}
                data-attempt={span.attempt}
                data-failed={span.error ? "true" : undefined}
                className={`absolute inset-y-0 ${spanClass(span, bar)}`}
                style={{ ...SHADES[span.kind], left: `${((span.start - bar.start) / length) * 100}%`, width: `${(Math.max(0, spanEnd - span.start) / length) * 100}%` }}
              />
            );
          })}
        </div>
      </div>
    </div>
  );
});

function Tooltip({ row, x, y, now }: { row: Row; x: number; y: number; now: number }) {
  const { bar } = row;
  const end = bar.end ?? now;
  const waited = bar.spans.filter((s) => s.kind === "waiting").reduce((sum, s) => sum + ((s.end ?? now) - s.start), 0);
  const throttled = bar.spans.filter((s) => s.kind === "throttled").reduce((sum, s) => sum + ((s.end ?? now) - s.start), 0);
  const failedAttempts = bar.spans.filter((s) => s.kind === "attempt" && s.error);
  return (
    <div
      data-testid="timeline-tooltip"
      className="pointer-events-none fixed z-50 max-w-xs rounded border border-neutral-300 bg-white p-2 text-[11px] shadow-lg"
      style={{ left: x + 12, top: y + 12 }}
    >
      <div className="font-semibold">
        {bar.stepId}
        {bar.execution > 1 ? ` #${bar.execution}` : ""} <span className="font-normal text-neutral-500">{bar.stepType ?? ""}</span>
      </div>
      <div>
        {bar.status} · <span data-testid="timeline-tooltip-duration">{formatDuration(Math.round(end - bar.start))}</span>
        {bar.attempts > 1 ? ` · ${bar.attempts} attempts` : ""}
      </div>
      {waited > 0 && <div>waited {formatDuration(Math.round(waited))}</div>}
      {throttled > 0 && <div data-testid="timeline-tooltip-throttled">waiting for rate limit {formatDuration(Math.round(throttled))}</div>}
      {bar.tokens !== undefined && (
        <div data-testid="timeline-tooltip-usage">
          {bar.tokens} tokens · {formatCost(bar.costUsd)}
        </div>
      )}
      {failedAttempts.map((s) => (
        <div key={s.start} className="text-red-700">
          attempt {s.attempt}: {s.error!.code}: {s.error!.message}
        </div>
      ))}
      {bar.error && failedAttempts.every((s) => s.error?.message !== bar.error!.message) && (
        <div className="text-red-700">
          {bar.error.code}: {bar.error.message}
        </div>
      )}
    </div>
  );
}
