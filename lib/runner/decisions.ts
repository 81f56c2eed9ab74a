import { recordAudit } from "@/lib/audit/record";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { isCallbackToken, type CallbackRequest } from "@/lib/engine/steps/wait-webhook";
import { sameSecret } from "@/lib/secrets";
import { schemaProblems } from "@/lib/workflow/input";
import { outsideValueIssue } from "@/lib/workflow/limits";
import { ownedRun } from "./checkpoints";
import type { RunControl } from "./control";

/**
 * What a waiting run waits for: a person's decision at an approval step, or the call to a wait_webhook step's
 * callback URL. Either is stored on the run with the requeue (so it resumes in any process, after a restart too).
 */

/**
 * Records the decision on a run's pending approval (who and when) and resumes the run here with it. With a
 * form, approved data must match the form's JSON Schema (else INVALID_INPUT). Throws NOT_FOUND, CONFLICT when the
 * run does not wait for an approval.
 */
export async function decideApproval(
  control: RunControl,
  runId: string,
  ownerId: string,
  decision: { approved: boolean; data?: unknown; comment?: string; decidedBy: string },
): Promise<{ runId: string }> {
  const { db } = control.deps;
  const refused = outsideValueIssue(decision.data, "data");
  if (refused) throw new OrchestratorError("INVALID_INPUT", `the approval data is refused: ${refused.message}`);
  if (decision.comment !== undefined && typeof decision.comment !== "string")
    throw new OrchestratorError("INVALID_INPUT", "comment: give the approval's comment as text");
  const run = await ownedRun(db, ownerId, runId);
  const pending = await db.stepRun.findFirst({ where: { runId, status: "waiting" }, orderBy: { startedAt: "desc" } });
  if (run.status !== "waiting" || !pending)
    throw new OrchestratorError("CONFLICT", `run "${runId}" is not waiting for an approval (it is ${run.status})`);
  const request = JSON.parse(pending.output ?? "{}") as { kind?: string; form?: Record<string, unknown> | null };
  if (request.kind === "subworkflow")
    throw new OrchestratorError("CONFLICT", `run "${runId}" waits for its sub-workflow run at step "${pending.stepId}"; decide it there (${JSON.stringify(request)})`);
  if (request.kind !== "approval")
    throw new OrchestratorError("CONFLICT", `run "${runId}" waits for a callback at step "${pending.stepId}", not for an approval; call its callback URL`);
  if (decision.approved && request.form) {
    const problems = schemaProblems(request.form, decision.data ?? {}, "data");
    if (problems.length) throw new OrchestratorError("INVALID_INPUT", `the approval form is not filled in correctly: ${problems.join("; ")}`, { stepId: pending.stepId });
  }
  const resumeValue = { ...decision, decidedAt: new Date().toISOString() };
  await control.requeue(runId, ["waiting"], { resumeValue: JSON.stringify(resumeValue) });
  await recordAudit(db, {
    actorId: ownerId,
    action: decision.approved ? "run.approve" : "run.reject",
    targetType: "run",
    targetId: runId,
    summary: `${decision.approved ? "Approved" : "Rejected"} step "${pending.stepId}" of run ${runId}${decision.decidedBy ? ` (decided by ${decision.decidedBy})` : ""}`,
    data: { stepId: pending.stepId, decidedBy: decision.decidedBy, comment: decision.comment ?? null },
  });
  control.schedule(runId);
  return { runId };
}

/**
 * Delivers the call a run waits for at a wait_webhook step: the token in the callback URL (bound to run, step,
 * execution and the wait, see wait-webhook.ts) is the credential; the body becomes the step's output and the run
 * resumes here. Each callback URL works once: the step must still wait at this very URL — after a resume from an
 * earlier checkpoint it waits at a new one, and the URL used before is refused. Throws NOT_FOUND for a wrong URL,
 * InvalidRunError (INVALID_INPUT) for a body nested deeper than the nesting limit, CONFLICT when that step no
 * longer waits at this URL.
 */
export async function deliverCallback(control: RunControl, runId: string, stepId: string, execution: number, token: string, body: unknown): Promise<{ runId: string }> {
  const { db } = control.deps;
  // Executions count from 1; anything else in the URL (`NaN`, `1e30`) is not one of ours, whatever its token.
  if (!Number.isSafeInteger(execution) || execution < 1 || !isCallbackToken(token, runId, stepId, execution)) throw new OrchestratorError("NOT_FOUND", "unknown callback URL");
  // The body becomes the step's output and goes through the checkpoint serializer: bounded first (a 400).
  const refused = outsideValueIssue(body, "body");
  if (refused) throw new InvalidRunError("INVALID_INPUT", [refused], "the callback body");
  const pending = await db.stepRun.findFirst({ where: { runId, stepId, execution, status: "waiting" } });
  if (!pending) throw new OrchestratorError("CONFLICT", `step "${stepId}" of run "${runId}" is not waiting for this callback (already called, or the run ended)`);
  const waitingAt = (JSON.parse(pending.output ?? "{}") as Partial<CallbackRequest>).path?.split("/").at(-1);
  if (!waitingAt || !sameSecret(token, waitingAt))
    throw new OrchestratorError(
      "CONFLICT",
      `this callback URL of step "${stepId}" is no longer valid: it was called already and the run went back to an earlier checkpoint since; the step now waits at a new URL, shown on the run page`,
    );
  // Only while the step still waits at this URL: a rewind that made it wait again meanwhile gets a new one.
  await control.requeue(runId, ["waiting"], { resumeValue: JSON.stringify({ body, receivedAt: new Date().toISOString() }) }, {
    steps: { some: { id: pending.id, status: "waiting", output: pending.output } },
  });
  const run = await db.run.findUniqueOrThrow({ where: { id: runId }, select: { ownerId: true } });
  // The callback URL is the credential, not a user: recorded as the run's owner, as webhooks are.
  await recordAudit(db, {
    actorId: run.ownerId,
    action: "run.callback",
    targetType: "run",
    targetId: runId,
    summary: `Callback received for step "${stepId}" of run ${runId} (no signed-in user: recorded as the run's owner)`,
    data: { stepId, execution, origin: "webhook" },
  });
  control.schedule(runId);
  return { runId };
}
