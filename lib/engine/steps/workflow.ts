import { interrupt } from "@langchain/langgraph";
import { StepError } from "../errors";
import type { StepExecutor } from "./types";

/**
 * Calls another saved workflow (when the child waits, this step waits with it) (latest or a pinned version) with an input; its run is a child run linked both
 * ways. Output `{ runId, status, outputs }`; a failed child fails this step with its error.
 */
export const workflowExecutor: StepExecutor = async (config, ctx) => {
  const version = config.version === undefined || config.version === null || config.version === "" ? undefined : Number(config.version);
  const result = await ctx.runWorkflow({ workflowId: String(config.workflowId), version, input: config.input });
  if (result.status === "succeeded") return { runId: result.runId, status: result.status, outputs: result.outputs };
  if (result.status === "waiting") {
    // The child waits for a person or a callback: so does this step. When the child ends, the runner resumes
    // this run; the step then runs again and finds the child's result.
    interrupt({ kind: "subworkflow", childRunId: result.runId, message: `waiting for sub-workflow run ${result.runId} (an approval or a webhook there)` });
  }
  throw new StepError(
    "SUB_WORKFLOW_FAILED",
    `step "${ctx.stepId}": sub-workflow run ${result.runId} ${result.status}${result.error ? `: ${result.error.code}${result.error.stepId ? ` in step "${result.error.stepId}"` : ""}: ${result.error.message}` : ""}`,
    { stepId: ctx.stepId },
  );
};
