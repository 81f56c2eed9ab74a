import { errorAnswer, OrchestratorError } from "@/lib/engine/errors";
import type { Runner } from "@/lib/runner/runner";
import type { HookResponse } from "./hooks";

export interface CallbackRequest {
  runId: string;
  stepId: string;
  execution: number;
  token: string;
  rawBody: string;
}

/**
 * A wait_webhook step's callback, framework-free (the route passes the request in and the answer out): the
 * JSON body (or the text, when it is not JSON) becomes the step's output. 202 `{ runId }`; 400 for a body the
 * run cannot take (nested deeper than the nesting limit); 404 for an unknown URL; 409 when the step is not
 * waiting any more.
 */
export async function handleCallbackRequest(deps: { runner: Runner }, req: CallbackRequest): Promise<HookResponse> {
  let body: unknown = null;
  if (req.rawBody.trim()) {
    try {
      body = JSON.parse(req.rawBody);
    } catch {
      body = req.rawBody;
    }
  }
  try {
    await deps.runner.deliverCallback(req.runId, req.stepId, req.execution, req.token, body);
    return { status: 202, body: { runId: req.runId, status: "queued" } };
  } catch (err) {
    if (err instanceof OrchestratorError) return errorAnswer(err);
    throw err;
  }
}
