import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import { mergeStreamedText } from "@/lib/runner/live-run";

/**
 * The text that steps still running have streamed so far (LLM tokens are broadcast, not stored), kept from the
 * tokens a realtime server relays, so that a subscriber joining mid-step gets it in its subscription's snapshot.
 * It needs only the token stream and the run events the server relays anyway (tokens carry their offset in the
 * step's text), so with several processes every process relaying a run's tokens can keep it the same way.
 *
 * Bounded: a step keeps the last `maxStepChars` characters (the snapshot's offset then says what is missing), and
 * past `maxTotalChars` in all the texts of the least recently streamed steps are dropped. A text is dropped as soon
 * as its step ends (its output has the whole text) or its run stops.
 */
export class StreamingTexts {
  private readonly texts = new Map<string, { runId: string; stepId: string; execution: number; text: string; from: number }>();
  private total = 0;

  constructor(private readonly limits: { maxStepChars: number; maxTotalChars: number } = { maxStepChars: 256 * 1024, maxTotalChars: 16 * 1024 * 1024 }) {}

  token(event: TokenEvent) {
    const key = keyOf(event.runId, event.stepId);
    const held = this.texts.get(key);
    if (held && held.execution > event.execution) return;
    const base = held && held.execution === event.execution ? held : { text: "", from: 0 };
    let { text, from } = mergeStreamedText(base, event);
    if (text.length > this.limits.maxStepChars) {
      const cut = text.length - this.limits.maxStepChars;
      text = text.slice(cut);
      from += cut;
    }
    this.drop(key);
    // Re-inserted: the map's order is the order of the last token, oldest first.
    this.texts.set(key, { runId: event.runId, stepId: event.stepId, execution: event.execution, text, from });
    this.total += text.length;
    for (const [oldest] of this.texts) {
      if (this.total <= this.limits.maxTotalChars) break;
      this.drop(oldest);
    }
  }

  /** A step that ended or started another execution, or a run that stopped, has no text in flight any more. */
  event(event: RunEvent) {
    if (event.type === "step.status") {
      const held = this.texts.get(keyOf(event.runId, event.stepId));
      if (held && (event.status !== "running" || event.execution > held.execution)) this.drop(keyOf(event.runId, event.stepId));
    } else if (event.type === "run.status" && event.status !== "running" && event.status !== "queued") {
      this.forget(event.runId);
    }
  }

  /** Drops what a run's steps streamed (a run executing elsewhere that nobody follows any more). */
  forget(runId: string) {
    for (const [key, held] of this.texts) if (held.runId === runId) this.drop(key);
  }

  /** The texts of a run's running steps, each as one token event from its offset. */
  snapshot(runId: string): TokenEvent[] {
    const events: TokenEvent[] = [];
    for (const held of this.texts.values())
      if (held.runId === runId) events.push({ runId, stepId: held.stepId, execution: held.execution, text: held.text, offset: held.from });
    return events;
  }

  get size() {
    return { steps: this.texts.size, chars: this.total };
  }

  private drop(key: string) {
    const held = this.texts.get(key);
    if (!held) return;
    this.total -= held.text.length;
    this.texts.delete(key);
  }
}

const keyOf = (runId: string, stepId: string) => `${runId}\u0000${stepId}`;
