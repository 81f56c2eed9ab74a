import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import { sha256 } from "@/lib/secrets";
import type { RunStatus } from "./event-types";
import { parseEventRow } from "./events";
import { runAccessOf } from "./queries";
import { applyTimelineEvents, emptyTimeline, withRecordFacts, type Timeline } from "./timeline";

/** Events a timeline reads at most (a run of ~30,000 step executions): past it the timeline says it is cut. */
export const MAX_TIMELINE_EVENTS = 100_000;

/** The event types a timeline is built from (log lines are not: they are read with the step's details). */
const TIMELINE_EVENT_TYPES = ["run.status", "step.status", "step.retry", "step.throttle"];

/**
 * A run's timeline for a user who may see the run (NOT_FOUND otherwise): its events after the last seq read
 * first (see queries.ts: the view then follows the events after it), plus each step record's type, tokens, cost
 * and the child run of a sub-workflow step.
 */
export async function loadRunTimeline(db: Db, userId: string, runId: string): Promise<Timeline & { truncated: boolean }> {
  if (!(await runAccessOf(db, userId, runId))) throw new OrchestratorError("NOT_FOUND", `run "${runId}" was not found (or is not shared with you)`);
  const { _max } = await db.runEvent.aggregate({ where: { runId }, _max: { seq: true } });
  const run = await db.run.findUnique({ where: { id: runId }, select: { status: true } });
  if (!run) throw new OrchestratorError("NOT_FOUND", `run "${runId}" was not found (or is not shared with you)`);
  const rows = await db.runEvent.findMany({
    where: { runId, type: { in: TIMELINE_EVENT_TYPES } },
    orderBy: { seq: "asc" },
    take: MAX_TIMELINE_EVENTS + 1,
  });
  const truncated = rows.length > MAX_TIMELINE_EVENTS;
  let timeline = applyTimelineEvents(emptyTimeline(runId, run.status as RunStatus), (truncated ? rows.slice(0, MAX_TIMELINE_EVENTS) : rows).map(parseEventRow));
  // Log lines between the events read do not change it; a view follows from the last seq stored when it was read.
  if (!truncated) timeline = { ...timeline, lastSeq: Math.max(timeline.lastSeq, _max.seq ?? 0) };
  const records = await db.stepRun.findMany({
    where: { runId },
    select: { stepId: true, execution: true, stepType: true, promptTokens: true, completionTokens: true, costUsd: true },
  });
  const children = await db.run.findMany({ where: { parentRunId: runId, parentStepId: { not: null } }, select: { id: true } });
  const childIds = new Set(children.map((c) => c.id));
  timeline = withRecordFacts(
    timeline,
    records.map((r) => {
      // A sub-workflow run's id derives from parent run, step and execution (child-runs.ts).
      const childRunId = r.stepType === "workflow" ? `run_${sha256(`${runId}:${r.stepId}:${r.execution}`).slice(0, 20)}` : undefined;
      return {
        stepId: r.stepId,
        execution: r.execution,
        stepType: r.stepType,
        ...(r.promptTokens !== null ? { tokens: r.promptTokens + (r.completionTokens ?? 0), costUsd: r.costUsd } : {}),
        ...(childRunId && childIds.has(childRunId) ? { childRunId } : {}),
      };
    }),
  );
  return { ...timeline, truncated };
}
