import type { SqlConnection } from "@/lib/db/sql";
import type { PriceTable } from "@/lib/pricing";
import type { Budget } from "@/lib/workflow/schema";
import { checkBudget, runSpendUsd, workflowMonthSpendUsd, worstCaseCostUsd } from "./budget";
import type { Governor, WaitInfo } from "./governor";
import { estimateTokens, linesFor, type ModelLimitRow } from "./limits";
import type { ModelGate } from "./model-gate";
import { ASSUMED_COMPLETION_TOKENS } from "./budget";

export interface RunGateOptions {
  runId: string;
  workflowId: string;
  sql: SqlConnection;
  governor: Governor;
  limits: readonly ModelLimitRow[];
  budget?: Budget;
  prices: PriceTable;
  onWait(stepId: string, execution: number, info: WaitInfo): void;
  onResume(stepId: string, execution: number): void;
}

/**
 * The model gates of one run's execution (one per step execution, StepContext.modelGate): budget caps against the
 * run's spend (what earlier executions stored, what this one reported, the worst case of calls in flight) and the
 * governor's lines.
 */
export class RunModelGates {
  private spentBefore: Promise<number> | undefined;
  private spentNow = 0;
  private pending = 0;

  constructor(private readonly options: RunGateOptions) {}

  /** The cost of a call this run made (the runner prices the reported usage). */
  spent(costUsd: number | null) {
    if (costUsd) this.spentNow += costUsd;
  }

  gate(stepId: string, execution: number): ModelGate {
    const { governor, limits, budget, prices } = this.options;
    return {
      acquire: async (request, signal) => {
        const worstCaseUsd = budget ? worstCaseCostUsd(prices, request.model, request.promptText, request.maxTokens) : 0;
        if (budget) {
          const run = (await (this.spentBefore ??= runSpendUsd(this.options.sql, this.options.runId))) + this.spentNow + this.pending;
          const month = budget.perMonthUsd !== undefined ? (await workflowMonthSpendUsd(this.options.sql, this.options.workflowId, this.options.runId)) + run : undefined;
          checkBudget(stepId, budget, { model: request.model, worstCaseUsd }, { run, month });
        }
        this.pending += worstCaseUsd;
        const estimatedTokens = estimateTokens(request.promptText) + (request.maxTokens ?? ASSUMED_COMPLETION_TOKENS);
        let permit;
        try {
          permit = await governor.acquire({
            lines: linesFor(limits, request.model, request.gatewayUrl),
            estimatedTokens,
            signal,
            onWait: (info) => this.options.onWait(stepId, execution, info),
            onResume: () => this.options.onResume(stepId, execution),
          });
        } catch (err) {
          this.pending -= worstCaseUsd;
          throw err;
        }
        let done = false;
        return {
          release: async (usage) => {
            if (done) return;
            done = true;
            this.pending -= worstCaseUsd;
            await permit.release(usage ? usage.promptTokens + usage.completionTokens : undefined);
          },
        };
      },
      pause: (model, ms) => governor.pause(`model:${model}`, ms),
    };
  }
}
