import { createHash } from "node:crypto";
import { getConfig, interrupt } from "@langchain/langgraph";
import { publicUrl } from "@/lib/config";
import { sameSecret, signToken } from "@/lib/secrets";
import type { StepExecutor } from "./types";

/** What a run waiting at a wait_webhook step shows (stored with the waiting step). */
export interface CallbackRequest {
  kind: "callback";
  message: string | null;
  url: string;
  path: string;
}

export interface CallbackDelivery {
  body: unknown;
  receivedAt: string;
}

const mac = (runId: string, stepId: string, execution: number, waitId: string) => signToken("callback", `${runId}:${stepId}:${execution}:${waitId}`);

/**
 * The unguessable part of a callback URL: `<waitId>.<HMAC of run, step, execution and waitId>`. The wait id names
 * this wait on the run's course (see `waitIdOf`), so going back to an earlier checkpoint gives the step a new URL
 * and the one already called is never current again — run, step and execution alone repeat after a rewind.
 */
export const callbackToken = (runId: string, stepId: string, execution: number, waitId: string) => `${waitId}.${mac(runId, stepId, execution, waitId)}`;

/**
 * Whether a token was made by `callbackToken` for this run, step and execution (any wait of it): an unknown URL
 * tells nothing else. Tokens of runs that waited before wait ids existed are the bare HMAC of run, step and
 * execution; they still work while their step waits at them.
 */
export function isCallbackToken(token: string, runId: string, stepId: string, execution: number): boolean {
  if (token.length > 128) return false; // ours are 60 characters
  const dot = token.indexOf(".");
  const expected = dot < 0 ? signToken("callback", `${runId}:${stepId}:${execution}`) : callbackToken(runId, stepId, execution, token.slice(0, dot));
  return sameSecret(token, expected);
}

/**
 * This wait's id: a hash of the LangGraph task's checkpoint namespace (`step:<task id>`). The task id is derived
 * from the checkpoint the task belongs to, so it stays the same while the step is resumed (the callback, a
 * takeover, a resume after a failure re-execute the same task) and is new on every other course of the run (resume
 * from an earlier checkpoint writes a new head checkpoint, whose tasks get new ids).
 */
function waitIdOf(runId: string, stepId: string, execution: number): string {
  const namespace = getConfig()?.configurable?.checkpoint_ns;
  // Outside a LangGraph task (never in a run) fall back to the step's execution alone.
  const seed = typeof namespace === "string" && namespace ? namespace : `${runId}:${stepId}:${execution}`;
  return createHash("sha256").update(seed).digest("base64url").slice(0, 16);
}

/**
 * Pauses the run (status `waiting`, LangGraph `interrupt`) until its callback URL is called; the body of that
 * POST becomes the step's output. The URL is unique per wait, and works after a restart.
 */
export const waitWebhookExecutor: StepExecutor = async (config, ctx) => {
  const token = callbackToken(ctx.runId, ctx.stepId, ctx.execution, waitIdOf(ctx.runId, ctx.stepId, ctx.execution));
  const path = `/api/callbacks/${ctx.runId}/${encodeURIComponent(ctx.stepId)}/${ctx.execution}/${token}`;
  const request: CallbackRequest = { kind: "callback", message: typeof config.message === "string" && config.message ? config.message : null, url: `${publicUrl()}${path}`, path };
  const delivered = interrupt<CallbackRequest, CallbackDelivery>(request);
  return delivered.body;
};
