/**
 * Governor: 20 concurrent runs, each a chain of llm calls to one model that the Settings limit to 60 requests a
 * minute, against the test gateway enforcing the same 60 a minute (a sliding minute; 429 + Retry-After above it).
 * Prints the 429s that reached a run (goal 0), the 429s the gateway sent (the governor absorbs them), and the rate
 * achieved over the measured window as a ratio of the limit (goal within 10%), measured in this run.
 *
 *   npm run bench -- governor
 *   BENCH_GOVERNOR_WINDOW_S=20 BENCH_GOVERNOR_RPM=60 BENCH_GOVERNOR_RUNS=20 npm run bench -- governor
 */
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { ensureLocalUser } from "@/lib/db";
import { saveModelLimits } from "@/lib/governor/settings";
import { getRuntime } from "@/lib/runtime";
import type { WorkflowDefinition } from "@/lib/workflow/schema";

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return process.env[name] && Number.isFinite(value) && value > 0 ? value : fallback;
};

export async function benchGovernor() {
  const windowS = envNumber("BENCH_GOVERNOR_WINDOW_S", 75);
  const rpm = envNumber("BENCH_GOVERNOR_RPM", 60);
  const runCount = envNumber("BENCH_GOVERNOR_RUNS", 20);
  const model = "bench-governed";
  // More calls than the window lets through, so demand exceeds the limit for the whole window.
  const callsPerRun = Math.ceil((rpm * (windowS / 60)) / runCount) + 2;
  process.env.ORCHESTRATOR_CONCURRENCY = String(runCount);

  const gateway = await startLlmGateway({ tokenDelayMs: 2, rateLimit: { requestsPerMinute: rpm, windowMs: 60_000, models: [model] } });
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "bench";
  const { db, runner } = await getRuntime();
  const ownerId = await ensureLocalUser(db);
  await saveModelLimits(db, [{ kind: "model", match: model, rpm }]);
  const definition: WorkflowDefinition = {
    id: "bench-governor",
    name: "bench governor",
    steps: Array.from({ length: callsPerRun }, (_, i) => ({ id: `call${i}`, type: "llm", config: { model, prompt: `call ${i}`, maxTokens: 16 } })),
  };

  // The llm executor and its client load on the first call: warmed first, so the window measures the pacing.
  await runner.runToCompletion({ definition: { id: "bench-warm", name: "warm", steps: [{ id: "ask", type: "llm", config: { model: "test-model", prompt: "warm" } }] }, ownerId, source: "api" });
  const runIds = await Promise.all(Array.from({ length: runCount }, async () => (await runner.startRun({ definition, ownerId, source: "api" })).runId));
  const admitted = () => gateway.requests.filter((r) => r.model === model);
  while (!admitted().length) await new Promise((r) => setTimeout(r, 20));
  const t0 = admitted()[0].startedAt;
  await new Promise((r) => setTimeout(r, windowS * 1000 - (Date.now() - t0)));
  const inWindow = admitted().filter((r) => r.startedAt >= t0 && r.startedAt < t0 + windowS * 1000).length;
  // The window is measured: the runs still waiting in line are cancelled (demand went on to the end).
  await Promise.all(runIds.map((runId) => runner.cancelRun(runId, ownerId).catch(() => undefined)));
  const results = await Promise.all(runIds.map((runId) => runner.waitForRun(runId)));

  // A 429 that reached a run is a failed step (no retry policy here), a retried attempt, or a failed run.
  const failedSteps = await db.stepRun.findMany({ where: { runId: { in: runIds }, status: "failed" }, select: { error: true } });
  const retries = await db.runEvent.count({ where: { runId: { in: runIds }, type: "step.retry" } });
  const reached429 = failedSteps.filter((s) => /429/.test(s.error ?? "")).length + retries;
  const failedRuns = results.filter((r) => r.status === "failed").length;
  const perMinute = inWindow / (windowS / 60);
  const ratio = perMinute / rpm;
  const throttled = await db.runEvent.count({ where: { runId: { in: runIds }, type: "step.throttle" } });
  console.log(
    `governor: ${runCount} concurrent runs × ${callsPerRun} llm calls to a model limited to ${rpm} RPM (gateway enforcing ${rpm}/min, 429 + Retry-After above it): ` +
      `429s reaching runs ${reached429} (goal 0; failed runs ${failedRuns}; the gateway sent ${gateway.rateLimited()} 429s, absorbed by the governor), ` +
      `achieved ${perMinute.toFixed(1)} calls/min over ${windowS} s = ${ratio.toFixed(3)}x the limit (goal 0.9–1.1x); ${throttled} throttle events`,
  );
  await saveModelLimits(db, []);
  await gateway.close();
}
