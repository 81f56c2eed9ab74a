"use server";

import { revalidatePath } from "next/cache";
import { z } from "zod";
import { runAction } from "@/app/_server/action";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { publicUrl } from "@/lib/config";
import { getPriceTable, priceOf } from "@/lib/pricing";
import { getGatewaySettings, listGatewayModels } from "@/lib/settings";
import { ExpressionEvaluator } from "@/lib/engine/expressions";
import { estimateCost } from "@/lib/workflow/estimate";
import type { ExpressionContext } from "@/lib/workflow/expression";
import { runInputProblems } from "@/lib/workflow/input";
import { outsideValueIssue } from "@/lib/workflow/limits";
import { disableHook, enableHook, getHookView, setHookWaitTimeout } from "@/lib/webhooks/hooks";
import { validateWorkflowInSlices } from "@/lib/workflow/validate";
import { WorkflowIdSchema } from "@/lib/workflow/schema";
import { deleteWorkflow, getWorkflow, listShares, saveWorkflowVersion, setShare } from "@/lib/workflows/repository";

/**
 * Validates and saves a new version; on problems nothing is saved and the issues go back to the canvas.
 * Validation gives the event loop back between slices, so a large definition does not hold other requests.
 */
export async function saveWorkflow(definition: unknown) {
  return runAction("saveWorkflow", "editor", async (context) => {
    const { definition: valid, issues } = await validateWorkflowInSlices(definition);
    if (!valid || issues.length) throw new InvalidRunError("INVALID_DEFINITION", issues);
    const { db, userId } = context;
    return saveWorkflowVersion(db, userId, valid);
  });
}

/**
 * The run dialog's check before it sends a run: the problems of an input against the input schema, each with its
 * field path, by the same checker the run uses. On the server because Ajv compiles schemas to functions, which the
 * pages' Content-Security-Policy does not let the browser do. A schema Ajv cannot compile gives no problems here
 * (the run itself is refused, saying why).
 */
export async function checkRunInput(schema: unknown, input: unknown) {
  return runAction("checkRunInput", "viewer", async () => {
    const parsed = z.record(z.string(), z.unknown()).parse(schema);
    try {
      return { problems: runInputProblems(parsed, input) };
    } catch {
      return { problems: [] };
    }
  });
}

/**
 * Checks a definition without saving it (the editor's import): the parsed definition when its shape is right,
 * and every issue the validator finds, for the canvas to show.
 */
export async function checkWorkflow(definition: unknown) {
  return runAction("checkWorkflow", "viewer", async (context) => {
    const { definition: parsed, issues } = await validateWorkflowInSlices(definition);
    return { definition: parsed ?? null, issues };
  });
}

const RunRequest = z.object({ workflowId: WorkflowIdSchema, input: z.unknown().optional() });

/** Runs the latest saved version; returns the run id to follow live. */
export async function runWorkflow(workflowId: string, input?: unknown) {
  return runAction("runWorkflow", "editor", async (context) => {
    const request = RunRequest.parse({ workflowId, input });
    const { db, userId, runner } = context;
    const workflow = await getWorkflow(db, userId, request.workflowId);
    // Not saved, or not the user's to see: the same answer (existence is not revealed).
    if (!workflow) throw new OrchestratorError("NOT_FOUND", `workflow "${request.workflowId}" not found: save it first`);
    if (workflow.access !== "edit") throw new OrchestratorError("FORBIDDEN", `you can view workflow "${request.workflowId}" but not run it: ask its owner for edit access`);
    return runner.startRun({
      definition: workflow.definition,
      input: request.input,
      ownerId: userId,
      workflowVersion: workflow.version,
      source: "web",
    });
  });
}

const RestoreRequest = z.object({ workflowId: WorkflowIdSchema, version: z.number().int().positive() });

/** Rollback: saves an earlier version's definition as the new latest version (history is kept). */
export async function restoreVersion(workflowId: string, version: number) {
  return runAction("restoreVersion", "editor", async (context) => {
    const request = RestoreRequest.parse({ workflowId, version });
    const { db, userId } = context;
    const old = await getWorkflow(db, userId, request.workflowId, request.version);
    if (!old) throw new OrchestratorError("NOT_FOUND", `workflow "${request.workflowId}" has no version ${request.version}`);
    return { ...(await saveWorkflowVersion(db, userId, old.definition, { restoredFrom: request.version })), definition: old.definition };
  });
}

/** The webhook trigger's state (never its token or secret). */
export async function webhookStatus(workflowId: string) {
  return runAction("webhookStatus", "viewer", async (context) => {
    const { db, userId } = context;
    return { hook: await getHookView(db, userId, WorkflowIdSchema.parse(workflowId)) };
  });
}

/** Enables (or rotates) the webhook trigger; the token and HMAC secret are shown this once. */
export async function enableWebhook(workflowId: string) {
  return runAction("enableWebhook", "editor", async (context) => {
    const { db, userId } = context;
    const created = await enableHook(db, userId, WorkflowIdSchema.parse(workflowId));
    return { ...created, url: `${publicUrl()}${created.path}`, signedUrl: `${publicUrl()}/api/hooks/${workflowId}` };
  });
}

export async function disableWebhook(workflowId: string) {
  return runAction("disableWebhook", "editor", async (context) => {
    const { db, userId } = context;
    await disableHook(db, userId, WorkflowIdSchema.parse(workflowId));
    return {};
  });
}

/** "Estimate cost" in the run dialog: the latest saved version's LLM prompts rendered with this input, priced. */
export async function estimateRunCost(workflowId: string, input?: unknown) {
  return runAction("estimateRunCost", "viewer", async (context) => {
    const refused = outsideValueIssue(input, "input");
    if (refused) throw new InvalidRunError("INVALID_INPUT", [refused]);
    const { db, userId } = context;
    const workflow = await getWorkflow(db, userId, WorkflowIdSchema.parse(workflowId));
    if (!workflow) throw new OrchestratorError("NOT_FOUND", `workflow "${workflowId}" has no saved version: save it first`);
    const { table } = await getPriceTable(db);
    const { defaultModel } = await getGatewaySettings(db);
    const render = (value: unknown, context: ExpressionContext) => new ExpressionEvaluator(context, { stepId: "estimate" }).renderValue(value, "config");
    return { estimate: await estimateCost(workflow.definition, input, (model) => priceOf(table, model), render, defaultModel) };
  });
}

/**
 * The models the configured gateway serves (GET <gateway>/models), for the model fields ([] when unreachable),
 * and the default model steps without one use (shown as their placeholder).
 */
export async function gatewayModels() {
  return runAction("gatewayModels", "viewer", async (context) => {
    const { db } = context;
    const [models, { defaultModel }] = await Promise.all([listGatewayModels(db), getGatewaySettings(db)]);
    return { models, defaultModel: defaultModel ?? null };
  });
}

/** How long `?wait=true` calls of the webhook wait for the run before answering 202. */
export async function setWebhookWaitTimeout(workflowId: string, waitTimeoutMs: number) {
  return runAction("setWebhookWaitTimeout", "editor", async (context) => {
    const { db, userId } = context;
    await setHookWaitTimeout(db, userId, WorkflowIdSchema.parse(workflowId), z.number().parse(waitTimeoutMs));
    return {};
  });
}

const WorkflowId = z.string().min(1, "workflow: which workflow?").max(200, "workflow: at most 200 characters");
const ShareRequest = z.object({
  workflowId: WorkflowId,
  email: z.string().trim().min(1, "email: enter the email of the user to share with").max(254, "email: at most 254 characters"),
  permission: z.enum(["edit", "view"], { message: "permission: edit or view" }).nullable(),
});

/** Who the workflow is shared with (its owner and admins manage this in the editor's Share dialog). */
export async function workflowShares(workflowId: string) {
  return runAction("workflowShares", "editor", async (context) => {
    const { db, userId } = context;
    return { shares: await listShares(db, userId, WorkflowId.parse(workflowId)) };
  });
}

/** Shares the workflow with a user by email (`edit` or `view`), changes the share, or removes it (null). */
export async function shareWorkflow(workflowId: string, email: string, permission: "edit" | "view" | null) {
  return runAction("shareWorkflow", "editor", async (context) => {
    const request = ShareRequest.parse({ workflowId, email, permission });
    const { db, userId } = context;
    await setShare(db, userId, request.workflowId, request.email, request.permission);
    return { shares: await listShares(db, userId, request.workflowId) };
  });
}

/** Deletes the workflow (edit access) with its versions, shares and webhook; its runs stay in the history. */
export async function removeWorkflow(workflowId: string) {
  return runAction("removeWorkflow", "editor", async (context) => {
    const { db, userId } = context;
    await deleteWorkflow(db, userId, WorkflowId.parse(workflowId));
    revalidatePath("/");
    return {};
  });
}
