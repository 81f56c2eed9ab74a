import type { RunEvent } from "./event-types";

/**
 * A waiting callback step's URL resumes the run: whoever holds it acts on the run. Users who may only view a run
 * (viewers, view shares) see that the step waits, not the URL.
 */
export const HIDDEN_CALLBACK_URL = "(hidden: only users who can act on this run see its callback URL)";

const isCallbackRequest = (value: unknown): value is { kind: "callback"; url?: unknown; path?: unknown } =>
  typeof value === "object" && value !== null && (value as { kind?: unknown }).kind === "callback";

/** The step output with a waiting callback's URL hidden (anything else as it is). */
export function hideCallbackUrl<T>(output: T): T {
  return isCallbackRequest(output) ? ({ ...output, url: HIDDEN_CALLBACK_URL, path: HIDDEN_CALLBACK_URL } as T) : output;
}

/** The event as a view-only user gets it. */
export function eventForViewers(event: RunEvent): RunEvent {
  return event.type === "step.status" && isCallbackRequest(event.output) ? { ...event, output: hideCallbackUrl(event.output) } : event;
}
