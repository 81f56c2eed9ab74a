import type { SqlConnection } from "@/lib/db/sql";
import { StepError } from "@/lib/engine/errors";
import { costUsd, type PriceTable } from "@/lib/pricing";
import type { Budget } from "@/lib/workflow/schema";
import { estimateTokens } from "./limits";

/** Completion tokens assumed for a call whose step sets no maxTokens (set maxTokens for an exact bound). */
export const ASSUMED_COMPLETION_TOKENS = 1024;

/** The most a call can cost: its prompt estimate and its max tokens at the model's price (0 for a model without one). */
export function worstCaseCostUsd(prices: PriceTable, model: string, promptText: string, maxTokens: number | undefined): number {
  return costUsd(prices, model, estimateTokens(promptText), maxTokens ?? ASSUMED_COMPLETION_TOKENS) ?? 0;
}

/** The start of the UTC calendar month `at` is in: a workflow's monthly cap counts the runs created since. */
export function monthStartUtc(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/**
 * What the workflow's other runs created this UTC month spent (their model calls' recorded cost; runs still going
 * count what they spent so far). Calls made by this run are the caller's to add (some are not stored yet).
 */
export async function workflowMonthSpendUsd(sql: SqlConnection, workflowId: string, exceptRunId: string, now = new Date()): Promise<number> {
  const [row] = await sql.queryCommitted<{ spent: number | string | null }>(
    `SELECT SUM(s."costUsd") AS "spent" FROM "StepRun" s JOIN "Run" r ON r."id" = s."runId"
     WHERE r."workflowId" = ? AND r."createdAt" >= ? AND r."id" <> ? AND s."inheritedFromRunId" IS NULL`,
    [workflowId, monthStartUtc(now), exceptRunId],
  );
  return Number(row?.spent ?? 0);
}

/** What a run's own executions spent before this one (a resumed run keeps counting; a fork's inherited calls do not). */
export async function runSpendUsd(sql: SqlConnection, runId: string): Promise<number> {
  const [row] = await sql.queryCommitted<{ spent: number | string | null }>(
    `SELECT SUM("costUsd") AS "spent" FROM "StepRun" WHERE "runId" = ? AND "inheritedFromRunId" IS NULL`,
    [runId],
  );
  return Number(row?.spent ?? 0);
}

const usd = (n: number) => `$${n < 0.01 && n > 0 ? n.toPrecision(2) : n.toFixed(2)}`;

/**
 * Checks a call against the caps before it is made: `spent` what the run (or workflow) spent so far, `pending` the
 * worst case of its calls in flight. Throws BUDGET_EXCEEDED naming the cap, the spend and the call's worst case.
 */
export function checkBudget(
  stepId: string,
  budget: Budget | undefined,
  call: { model: string; worstCaseUsd: number },
  spend: { run: number; month?: number },
) {
  if (!budget) return;
  if (budget.perRunUsd !== undefined && spend.run + call.worstCaseUsd > budget.perRunUsd)
    throw new StepError(
      "BUDGET_EXCEEDED",
      `step "${stepId}": the run's budget of ${usd(budget.perRunUsd)} (budget.perRunUsd) would be exceeded: it spent ${usd(spend.run)} so far and this call to "${call.model}" may cost up to ${usd(call.worstCaseUsd)}; the call was not made. Raise the cap or lower the step's maxTokens`,
      { stepId },
    );
  if (budget.perMonthUsd !== undefined && spend.month !== undefined && spend.month + call.worstCaseUsd > budget.perMonthUsd)
    throw new StepError(
      "BUDGET_EXCEEDED",
      `step "${stepId}": the workflow's monthly budget of ${usd(budget.perMonthUsd)} (budget.perMonthUsd, UTC calendar month) would be exceeded: its runs spent ${usd(spend.month)} this month and this call to "${call.model}" may cost up to ${usd(call.worstCaseUsd)}; the call was not made`,
      { stepId },
    );
}
