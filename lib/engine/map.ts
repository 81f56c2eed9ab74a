import { Annotation, Command, END, Send, START, StateGraph } from "@langchain/langgraph";
import type { ExpressionContext } from "@/lib/workflow/expression";
import type { WorkflowStep } from "@/lib/workflow/schema";
import { executeStepBody, type AttemptRecord, type StepBodyScope } from "./compile";
import { detached } from "./detached";
import { OrchestratorError, serializeError, StepError, type ErrorCode, type SerializedError } from "./errors";
import { Semaphore } from "./semaphore";

/**
 * The `map` step: runs a chain of steps for each item, at most `concurrency` items at once, and returns the
 * last step's output of every item, in item order. Items fan out with LangGraph `Send` in a graph of their own,
 * checkpointed in the run's database under a thread of this map execution: when the run resumes after a crash
 * or a failure, items that had finished keep their results and only the others run again.
 *
 * Each item's steps are recorded as step executions named `<map>[<index>].<step>`, so the run page shows every
 * item's progress, output, error, tokens and cost.
 */
export interface MapRequest {
  items: unknown[];
  concurrency: number;
  steps: WorkflowStep[];
}

export async function runMap(options: MapRequest & { mapStepId: string; context: ExpressionContext; scope: StepBodyScope }): Promise<unknown[]> {
  const { items, steps, mapStepId, context, scope } = options;
  const { hooks } = scope;
  const limiter = new Semaphore(() => Math.max(1, options.concurrency));
  let finished = 0;

  const runItem = async (index: number, item: unknown): Promise<unknown> => {
    const produced: Record<string, unknown> = {};
    let last: unknown = null;
    for (const step of steps) {
      const recordId = `${mapStepId}[${index}].${step.id}`;
      const itemContext: ExpressionContext = { ...context, steps: { ...context.steps, ...produced }, item, index };
      const attempts: AttemptRecord = { attempts: 0, attemptErrors: [] };
      const started = Date.now();
      try {
        last = await executeStepBody(step, itemContext, { ...scope, recordId }, attempts);
      } catch (err) {
        const error = serializeError(err, recordId);
        await hooks.onStepFailure?.({ ...step, id: recordId }, scope.execution, error, Date.now() - started, attempts);
        const code = err instanceof OrchestratorError ? err.code : "STEP_FAILED";
        const detail = error.message.replace(`step "${recordId}": `, "");
        throw new StepError(code, `item ${index} of map "${mapStepId}", step "${step.id}": ${detail}`, { stepId: mapStepId, cause: err });
      }
      await hooks.onStepSuccess?.({ ...step, id: recordId }, scope.execution, last, Date.now() - started, attempts);
      produced[step.id] = last;
    }
    return last;
  };

  // An item's outcome is stored either way, so one failing item never stops or loses the others.
  type Outcome = { ok: true; value: unknown } | { ok: false; error: SerializedError };
  const State = Annotation.Root({
    items: Annotation<unknown[]>(),
    /** The item indexes this round runs (all at first; the failed or missing ones when the step runs again). */
    only: Annotation<number[] | null>(),
    results: Annotation<Record<string, Outcome>>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
  });
  const graph = new StateGraph(State)
    .addNode(
      "fanout",
      (state: { items: unknown[]; only: number[] | null }) =>
        new Command({ goto: (state.only ?? state.items.map((_, i) => i)).map((index) => new Send("item", { index, item: state.items[index] })) }),
      { ends: ["item"] },
    )
    .addNode("item", async (task: unknown) => {
      const { index, item } = task as { index: number; item: unknown };
      const release = await limiter.acquire(1, scope.signal);
      try {
        const value = await runItem(index, item);
        finished++;
        hooks.onStepLog?.(mapStepId, scope.execution, "info", `item ${index} done (${finished}/${items.length})`);
        return { results: { [String(index)]: { ok: true, value } } };
      } catch (err) {
        if (scope.signal.aborted) throw err;
        return { results: { [String(index)]: { ok: false, error: serializeError(err, mapStepId) } } };
      } finally {
        release();
      }
    })
    .addEdge(START, "fanout")
    .addEdge("item", END)
    .compile({ checkpointer: scope.checkpointer });

  const config = { configurable: { thread_id: `${scope.runId}:map:${mapStepId}:${scope.execution}` }, signal: scope.signal };
  const failedOrMissing = (results: Record<string, Outcome>) => items.map((_, i) => i).filter((i) => !results[String(i)]?.ok);
  // A checkpoint of this map execution means the step runs again (after a crash or a failure): items that
  // finished keep their results; a round cut short by a crash continues; failed items get one new round.
  return detached(async () => {
    const previous = scope.checkpointer ? await graph.getState(config).catch(() => undefined) : undefined;
    let results: Record<string, Outcome>;
    if (!previous?.createdAt) {
      hooks.onStepLog?.(mapStepId, scope.execution, "info", `starting ${items.length} items, at most ${options.concurrency} at once`);
      results = ((await graph.invoke({ items, only: null }, config)) as { results: Record<string, Outcome> }).results;
    } else {
      results = previous.next.length
        ? ((await graph.invoke(null, config)) as { results: Record<string, Outcome> }).results
        : (previous.values as { results: Record<string, Outcome> }).results;
      const again = failedOrMissing(results);
      if (again.length) {
        hooks.onStepLog?.(mapStepId, scope.execution, "info", `running ${again.length} unfinished item(s) again: ${again.join(", ")}`);
        results = ((await graph.invoke({ items, only: again }, config)) as { results: Record<string, Outcome> }).results;
      }
    }
    const failed = failedOrMissing(results);
    if (failed.length) {
      const first = results[String(failed[0])];
      const error = first && !first.ok ? first.error : { code: "STEP_FAILED", message: `item ${failed[0]} did not finish` };
      throw new StepError(error.code as ErrorCode, `${error.message}${failed.length > 1 ? ` (and ${failed.length - 1} more failed item(s): ${failed.slice(1).join(", ")})` : ""}`, { stepId: mapStepId });
    }
    return items.map((_, index) => (results[String(index)] as { value: unknown }).value);
  });
}
