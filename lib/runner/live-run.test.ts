import { describe, expect, it } from "vitest";
import { StreamingTexts } from "@/lib/realtime/streaming-texts";
import type { RunEvent } from "./event-types";
import { applyLiveUpdates, liveRunFromRecords, mergeStreamedText } from "./live-run";

describe("mergeStreamedText", () => {
  const held = (text: string, from = 0) => ({ text, from });

  it("appends pieces in order and drops what overlaps", () => {
    expect(mergeStreamedText(held(""), { text: "Echo: ", offset: 0 })).toEqual(held("Echo: "));
    expect(mergeStreamedText(held("Echo: "), { text: "one ", offset: 6 })).toEqual(held("Echo: one "));
    // A snapshot that repeats part of what was received, and a token that was already in a snapshot.
    expect(mergeStreamedText(held("Echo: one "), { text: "Echo: one two ", offset: 0 })).toEqual(held("Echo: one two "));
    expect(mergeStreamedText(held("Echo: one two "), { text: "two ", offset: 10 })).toEqual(held("Echo: one two "));
  });

  it("joins a snapshot received after the tokens that followed it", () => {
    // Tokens of a step joined mid-way arrive before the subscription's snapshot of the text so far.
    const early = mergeStreamedText(held(""), { text: "three ", offset: 14 });
    expect(early).toEqual(held("three ", 14));
    expect(mergeStreamedText(early, { text: "Echo: one two ", offset: 0 })).toEqual(held("Echo: one two three "));
    expect(mergeStreamedText(early, { text: "Echo: one two thr", offset: 0 })).toEqual(held("Echo: one two three "));
  });

  it("lets the newer text win across a gap, keeps text without offsets appending", () => {
    expect(mergeStreamedText(held("Echo: "), { text: "two ", offset: 10 })).toEqual(held("two ", 10));
    expect(mergeStreamedText(held("two ", 10), { text: "Echo", offset: 0 })).toEqual(held("two ", 10));
    expect(mergeStreamedText(held("a"), { text: "b" })).toEqual(held("ab"));
  });
});

describe("liveRunFromRecords", () => {
  it("keeps the latest execution of each step, its output, error and logs", () => {
    const live = liveRunFromRecords({
      runId: "r",
      status: "running",
      lastSeq: 9,
      steps: [
        { stepId: "loop", execution: 1, status: "succeeded", output: 1, error: null },
        { stepId: "loop", execution: 2, status: "failed", output: null, error: { code: "STEP_FAILED", message: "no" } },
        { stepId: "ask", execution: 1, status: "running", output: null, error: null, logs: [{ level: "log", text: "hi" }] },
      ],
    });
    expect(live).toEqual({
      runId: "r",
      status: "running",
      lastSeq: 9,
      error: undefined,
      steps: {
        loop: { status: "failed", execution: 2, tokens: "", output: undefined, error: { code: "STEP_FAILED", message: "no" } },
        ask: { status: "running", execution: 1, tokens: "", output: undefined, error: undefined, logs: [{ level: "log", text: "hi" }] },
      },
    });
  });
});

describe("StreamingTexts", () => {
  const token = (stepId: string, text: string, offset: number, execution = 1, runId = "r") => ({ runId, stepId, execution, text, offset });
  const stepEvent = (stepId: string, status: "running" | "succeeded", execution = 1): RunEvent => ({ type: "step.status", runId: "r", seq: 1, at: "", stepId, status, execution });

  it("keeps the text of running steps until they end", () => {
    const texts = new StreamingTexts();
    texts.token(token("a", "Echo: ", 0));
    texts.token(token("a", "one ", 6));
    texts.token(token("b", "x", 0));
    expect(texts.snapshot("r")).toEqual([token("a", "Echo: one ", 0), token("b", "x", 0)]);
    expect(texts.snapshot("other")).toEqual([]);
    texts.event(stepEvent("a", "running")); // its own start (a late event): the text stays
    texts.event(stepEvent("b", "succeeded"));
    expect(texts.snapshot("r")).toEqual([token("a", "Echo: one ", 0)]);
    texts.token(token("a", "new", 0, 2)); // the next execution starts over
    expect(texts.snapshot("r")).toEqual([token("a", "new", 0, 2)]);
    texts.event({ type: "run.status", runId: "r", seq: 2, at: "", status: "cancelled" });
    expect(texts.snapshot("r")).toEqual([]);
    expect(texts.size).toEqual({ steps: 0, chars: 0 });
  });

  it("is bounded: a step keeps its tail, and the least recently streamed steps go first", () => {
    const texts = new StreamingTexts({ maxStepChars: 10, maxTotalChars: 25 });
    texts.token(token("a", "0123456789abcdef", 0));
    expect(texts.snapshot("r")).toEqual([token("a", "6789abcdef", 6)]);
    texts.token(token("b", "0123456789", 0));
    texts.token(token("a", "g", 16));
    texts.token(token("c", "0123456789", 0, 1, "s"));
    // b was streamed longest ago: dropped to stay within 25 characters.
    expect(texts.snapshot("r")).toEqual([token("a", "789abcdefg", 7)]);
    expect(texts.snapshot("s")).toEqual([token("c", "0123456789", 0, 1, "s")]);
    expect(texts.size).toEqual({ steps: 2, chars: 20 });
  });
});

describe("applyLiveUpdates", () => {
  const at = "2026-12-02T00:00:00.000Z";
  const base = () => liveRunFromRecords({ runId: "r", status: "running", lastSeq: 0, steps: [] });
  const status = (seq: number, stepId: string, s: "running" | "succeeded", output?: unknown, execution = 1): RunEvent => ({ type: "step.status", runId: "r", seq, at, stepId, status: s, execution, output });

  it("applies events and tokens in order, in one new run", () => {
    const run = base();
    const next = applyLiveUpdates(run, [
      { event: status(1, "a", "running") },
      { token: { runId: "r", stepId: "a", execution: 1, text: "Hel", offset: 0 } },
      { token: { runId: "r", stepId: "a", execution: 1, text: "lo", offset: 3 } },
      { event: status(2, "a", "succeeded", "Hello") },
      { event: { type: "run.status", runId: "r", seq: 3, at, status: "succeeded" } },
    ]);
    expect(next).not.toBe(run);
    expect(run.steps).toEqual({}); // the run given is left as it was
    expect(next).toMatchObject({ status: "succeeded", lastSeq: 3, steps: { a: { status: "succeeded", output: "Hello", tokens: "Hello" } } });
  });

  it("gives the same run back when nothing applies: another run's, already included, a late token", () => {
    const run = applyLiveUpdates(base(), [{ event: status(1, "a", "running") }, { event: status(2, "a", "running", undefined, 2) }]);
    expect(
      applyLiveUpdates(run, [
        { event: { ...status(5, "a", "succeeded"), runId: "other" } as RunEvent },
        { event: status(2, "b", "running") },
        { token: { runId: "r", stepId: "a", execution: 1, text: "old", offset: 0 } },
        { token: { runId: "other", stepId: "a", execution: 2, text: "x", offset: 0 } },
      ]),
    ).toBe(run);
  });

  it("copies the steps once however many events a catch-up brings (a 5,000-step run in one call)", () => {
    const events: RunEvent[] = [];
    for (let i = 0; i < 5000; i++) events.push(status(2 * i + 1, `s${i}`, "running"), status(2 * i + 2, `s${i}`, "succeeded", i));
    const started = performance.now();
    const next = applyLiveUpdates(base(), events.map((event) => ({ event })));
    const took = performance.now() - started;
    expect(Object.keys(next.steps)).toHaveLength(5000);
    expect(next.steps.s4999).toMatchObject({ status: "succeeded", output: 4999 });
    expect(next.lastSeq).toBe(10000);
    // One copy per event was ~5,000 × 5,000 property copies (seconds); one per call is a few milliseconds.
    expect(took).toBeLessThan(500);
  });
});

describe("rate-limit waits in the live run", () => {
  it("marks the step while its model call waits in a governor line, and clears it on resume or end", () => {
    const run = liveRunFromRecords({ runId: "r", status: "running", lastSeq: 0, steps: [] });
    const ev = (seq: number, body: Record<string, unknown>) => ({ event: { runId: "r", seq, at: new Date().toISOString(), ...body } as RunEvent });
    const started = applyLiveUpdates(run, [ev(1, { type: "step.status", stepId: "a", status: "running", execution: 1 })]);
    const waiting = applyLiveUpdates(started, [ev(2, { type: "step.throttle", stepId: "a", execution: 1, state: "waiting", limit: 'model "m"', reason: "paused", waitMs: 2000 })]);
    expect(waiting.steps.a).toMatchObject({ status: "running", throttled: { limit: 'model "m"', reason: "paused", waitMs: 2000 } });
    const resumed = applyLiveUpdates(waiting, [ev(3, { type: "step.throttle", stepId: "a", execution: 1, state: "resumed" })]);
    expect(resumed.steps.a.throttled).toBeUndefined();
    const again = applyLiveUpdates(resumed, [ev(4, { type: "step.throttle", stepId: "a", execution: 1, state: "waiting", reason: "requests" })]);
    const ended = applyLiveUpdates(again, [ev(5, { type: "step.status", stepId: "a", status: "failed", execution: 1, error: { code: "CANCELLED", message: "x" } })]);
    expect(ended.steps.a.throttled).toBeUndefined();
    // A late event of an earlier execution changes nothing of the current one.
    const next = applyLiveUpdates(ended, [ev(6, { type: "step.status", stepId: "a", status: "running", execution: 2 }), ev(7, { type: "step.throttle", stepId: "a", execution: 1, state: "waiting" })]);
    expect(next.steps.a.throttled).toBeUndefined();
  });
});
