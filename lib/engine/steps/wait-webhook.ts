import { interrupt } from "@langchain/langgraph";
import { publicUrl } from "@/lib/config";
import { signToken } from "@/lib/secrets";
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

/** The unguessable part of a callback URL: bound to the run, the step and its execution. */
export const callbackToken = (runId: string, stepId: string, execution: number) => signToken("callback", `${runId}:${stepId}:${execution}`);

/**
 * Pauses the run (status `waiting`, LangGraph `interrupt`) until its callback URL is called; the body of that
 * POST becomes the step's output. The URL is unique per run, step and execution, and works after a restart.
 */
export const waitWebhookExecutor: StepExecutor = async (config, ctx) => {
  const path = `/api/callbacks/${ctx.runId}/${encodeURIComponent(ctx.stepId)}/${ctx.execution}/${callbackToken(ctx.runId, ctx.stepId, ctx.execution)}`;
  const request: CallbackRequest = { kind: "callback", message: typeof config.message === "string" && config.message ? config.message : null, url: `${publicUrl()}${path}`, path };
  const delivered = interrupt<CallbackRequest, CallbackDelivery>(request);
  return delivered.body;
};
