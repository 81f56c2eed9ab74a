import { interrupt } from "@langchain/langgraph";
import { StepError } from "../errors";
import type { StepExecutor } from "./types";

/** What the approver sees (stored with the waiting step) and what comes back. */
export interface ApprovalRequest {
  kind: "approval";
  message: string;
  form: Record<string, unknown> | null;
}

export interface ApprovalDecision {
  approved: boolean;
  data?: unknown;
  comment?: string;
  decidedBy: string;
  decidedAt: string;
}

/**
 * Pauses the run with LangGraph's `interrupt` (the run becomes `waiting`); the decision resumes it through
 * `Command({ resume })`, when LangGraph runs this step again and `interrupt` returns the decision. A rejection
 * fails the step with REJECTED (route it with `onError` to handle it in the workflow).
 */
export const approvalExecutor: StepExecutor = async (config, ctx) => {
  const request: ApprovalRequest = { kind: "approval", message: String(config.message), form: (config.form as Record<string, unknown>) ?? null };
  const decision = interrupt<ApprovalRequest, ApprovalDecision>(request);
  if (!decision.approved)
    throw new StepError("REJECTED", `rejected by ${decision.decidedBy}${decision.comment ? `: ${decision.comment}` : ""}`, { stepId: ctx.stepId });
  return { approved: true, data: decision.data ?? null, comment: decision.comment ?? null, decidedBy: decision.decidedBy, decidedAt: decision.decidedAt };
};
