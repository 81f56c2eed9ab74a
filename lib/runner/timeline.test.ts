import { describe, expect, it } from "vitest";
import type { RunEvent, RunEventBody } from "./event-types";
import { applyTimelineEvents, emptyTimeline, mapItemOf, timelineRange } from "./timeline";

const T0 = Date.parse("2026-01-01T00:00:00.000Z");
let seq = 0;
const at = (ms: number, body: RunEventBody): RunEvent => ({ ...body, runId: "r", seq: ++seq, at: new Date(T0 + ms).toISOString() }) as RunEvent;

describe("timeline from events", () => {
  it("shows a model call's wait for the rate limit as its own segment between attempts", () => {
    seq = 0;
    const events = [
      at(0, { type: "step.status", stepId: "a", status: "running", execution: 1 }),
      at(5, { type: "step.throttle", stepId: "a", execution: 1, state: "waiting", limit: 'model "m"', reason: "requests", waitMs: 900 }),
      at(905, { type: "step.throttle", stepId: "a", execution: 1, state: "resumed" }),
      at(1000, { type: "step.status", stepId: "a", status: "succeeded", execution: 1, durationMs: 1000 }),
    ];
    const timeline = applyTimelineEvents(emptyTimeline("r"), events);
    expect(timeline.bars["a#1"].spans.map((s) => [s.kind, s.start - T0, s.end! - T0, s.waitKind])).toEqual([
      ["attempt", 0, 5, undefined],
      ["throttled", 5, 905, 'model "m"'],
      ["attempt", 905, 1000, undefined],
    ]);
    expect(timeline.bars["a#1"]).toMatchObject({ status: "succeeded", attempts: 1 });
  });

  it("ends a retry cancelled during its pause without the attempt that never started; closes what the run's end leaves open", () => {
    seq = 0;
    const events = [
      at(0, { type: "run.status", status: "running" }),
      at(10, { type: "step.status", stepId: "a", status: "running", execution: 1 }),
      at(12, { type: "step.status", stepId: "b", status: "running", execution: 1 }),
      at(50, { type: "step.retry", stepId: "a", execution: 1, attempt: 1, error: { code: "LLM_REQUEST_FAILED", message: "503" }, delayMs: 1000 }),
      at(300, { type: "step.status", stepId: "a", status: "cancelled", execution: 1, error: { code: "CANCELLED", message: "cancelled" } }),
      at(310, { type: "run.status", status: "cancelled" }),
    ];
    const timeline = applyTimelineEvents(emptyTimeline("r"), events);
    expect(timeline.bars["a#1"].spans.map((s) => [s.kind, s.start - T0, s.end! - T0])).toEqual([
      ["attempt", 10, 50],
      ["backoff", 50, 1050],
    ]);
    expect(timeline.bars["a#1"]).toMatchObject({ status: "cancelled", end: T0 + 300 });
    // b had no end event: the run's end closes it.
    expect(timeline.bars["b#1"]).toMatchObject({ status: "cancelled", end: T0 + 310 });
    expect(timelineRange(timeline, T0 + 99_999)).toEqual({ start: T0, end: T0 + 310 });
  });

  it("takes events once, in seq order, and ignores other runs' and log lines", () => {
    seq = 0;
    const start = at(0, { type: "step.status", stepId: "a", status: "running", execution: 1 });
    const log = at(1, { type: "step.log", stepId: "a", execution: 1, level: "info", text: "x" });
    const end = at(5, { type: "step.status", stepId: "a", status: "succeeded", execution: 1, durationMs: 5 });
    const once = applyTimelineEvents(emptyTimeline("r"), [start, log, end]);
    expect(once.lastSeq).toBe(3);
    expect(applyTimelineEvents(once, [start, log, end])).toBe(once);
    expect(applyTimelineEvents(once, [{ ...end, runId: "other", seq: 9 }])).toBe(once);
    // Applying in pieces changes nothing already built (copy on write).
    const first = applyTimelineEvents(emptyTimeline("r"), [start]);
    const copy = JSON.stringify(first);
    applyTimelineEvents(first, [log, end]);
    expect(JSON.stringify(first)).toBe(copy);
  });

  it("puts a map item's steps under their map, and a step that ended without a start at its duration", () => {
    seq = 0;
    const timeline = applyTimelineEvents(emptyTimeline("r"), [
      at(0, { type: "step.status", stepId: "m", status: "running", execution: 2 }),
      at(100, { type: "step.status", stepId: "m[3].ask", status: "failed", execution: 2, durationMs: 40, error: { code: "X", message: "y" } }),
    ]);
    expect(timeline.order).toEqual(["m#2"]);
    expect(timeline.items).toEqual({ "m#2": ["m[3].ask#2"] });
    expect(timeline.bars["m[3].ask#2"]).toMatchObject({ parentKey: "m#2", item: 3, start: T0 + 60, end: T0 + 100, status: "failed", error: { code: "X" } });
    expect(mapItemOf("outer[1].inner[2].step")).toEqual({ mapStepId: "outer[1].inner", item: 2 });
    expect(mapItemOf("plain")).toBeNull();
  });
});
