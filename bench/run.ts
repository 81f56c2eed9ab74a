/**
 * Benchmarks that print ratios against a baseline measured in the same process (these machines are noisy).
 *
 *   npm run bench            # all of them
 *   npm run bench -- chain   # 200-step transform chain: executeWorkflow (SQLite) vs bare LangGraph + SqliteSaver
 *   npm run bench -- lanes   # 4 parallel lanes of a 300 ms LLM call vs 1 lane
 *   npm run bench -- bytes   # checkpoint bytes per step, 400-step run vs 100-step run
 *   npm run bench -- cli     # CLI start times (--help, validate, a one-step run) next to `node -e 0` (bench/cli.ts)
 *   npm run bench -- throughput  # webhook load on the real server (needs `npm run build`; see bench/throughput.ts)
 *   npm run bench -- history # the run history at 100,000 runs on SQLite and Postgres: first and filtered pages (bench/history.ts)
 *   npm run bench -- canvas  # opening 100/1,000/5,000-step workflows in Chromium, fps while dragging (needs a build; bench/canvas.ts)
 *   npm run bench -- latency # step event -> client latency with 100 Socket.IO watchers vs 1 (bench/latency.ts)
 *   npm run bench -- queue   # queue mode (web + 1 / 2 workers) vs one process under the webhook load; 1,000 runs at once (needs a build, Postgres, Redis; bench/queue.ts)
 *   npm run bench -- governor # 20 runs against a model limited to 60 RPM: 429s reaching runs, rate vs limit (bench/governor.ts)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Annotation, StateGraph, START, END } from "@langchain/langgraph";
import { SqliteSaver } from "@langchain/langgraph-checkpoint-sqlite";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import { benchCli } from "./cli";
import { WorkflowOrchestrator } from "@/lib/orchestrator";
import { getRuntime } from "@/lib/runtime";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { ExpressionEvaluator } from "@/lib/engine/expressions";
import { benchCanvas } from "./canvas";
import { benchGovernor } from "./governor";
import { benchHistory } from "./history";
import { benchLatency } from "./latency";
import { benchQueue } from "./queue";
import { benchThroughput } from "./throughput";

const which = process.argv[2] ?? "all";
const dataDir = mkdtempSync(path.join(tmpdir(), "orchestrator-bench-"));
process.env.ORCHESTRATOR_DATA_DIR = dataDir;
delete process.env.DATABASE_URL;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(fn: () => Promise<unknown>) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const CHAIN = 200;
const stepOutput = (i: number) => ({ n: i === 0 ? "{{ input.n }}" : `{{ steps.s${i - 1}.n + 1 }}`, label: `step ${i}` });

function chainDefinition(): WorkflowDefinition {
  return {
    id: "bench-chain",
    name: "bench chain",
    limits: { maxStepExecutions: CHAIN + 10 },
    steps: Array.from({ length: CHAIN }, (_, i) => ({ id: `s${i}`, type: "transform", config: { output: stepOutput(i) } })),
  };
}

/** The same chain as a hand-written LangGraph graph with the official SQLite saver: one node per step. */
async function bareLangGraphChain(file: string, thread: string) {
  const State = Annotation.Root({
    input: Annotation<{ n: number }>(),
    steps: Annotation<Record<string, unknown>>({ reducer: (a, b) => ({ ...a, ...b }), default: () => ({}) }),
  });
  let graph = new StateGraph(State) as unknown as StateGraph<any, any, any, string>;
  for (let i = 0; i < CHAIN; i++)
    graph = graph.addNode(`s${i}`, async (state: { input: unknown; steps: Record<string, unknown> }) => ({
      steps: { [`s${i}`]: await new ExpressionEvaluator({ input: state.input, steps: state.steps, vars: {} }, { stepId: `s${i}` }).renderValue(stepOutput(i), "config.output") },
    }));
  graph = graph.addEdge(START, "s0");
  for (let i = 1; i < CHAIN; i++) graph = graph.addEdge(`s${i - 1}`, `s${i}`);
  graph = graph.addEdge(`s${CHAIN - 1}`, END);
  const saver = SqliteSaver.fromConnString(file);
  const compiled = graph.compile({ checkpointer: saver });
  const final = await compiled.invoke({ input: { n: 1 } }, { configurable: { thread_id: thread }, recursionLimit: CHAIN + 10 });
  if ((final.steps as Record<string, { n: number }>)[`s${CHAIN - 1}`].n !== CHAIN) throw new Error("baseline chain computed a wrong result");
}

async function benchChain() {
  const orchestrator = new WorkflowOrchestrator();
  const def = chainDefinition();
  const ours: number[] = [];
  const base: number[] = [];
  // Warm up both paths (JIT, migrations, prepared statements), then alternate to spread machine noise.
  await orchestrator.executeWorkflow(def, { input: { n: 1 } });
  await bareLangGraphChain(path.join(dataDir, "baseline.db"), "warmup");
  for (let round = 0; round < 5; round++) {
    ours.push(
      await time(async () => {
        const result = await orchestrator.executeWorkflow(def, { input: { n: 1 } });
        if (result.status !== "succeeded" || (result.outputs[`s${CHAIN - 1}`] as { n: number }).n !== CHAIN)
          throw new Error(`chain run failed: ${JSON.stringify(result.error)}`);
      }),
    );
    base.push(await time(() => bareLangGraphChain(path.join(dataDir, "baseline.db"), `t${round}`)));
  }
  const ratio = median(ours) / median(base);
  console.log(
    `chain ${CHAIN} transform steps: executeWorkflow median ${median(ours).toFixed(0)} ms, bare LangGraph + SqliteSaver median ${median(base).toFixed(0)} ms, ratio ${ratio.toFixed(2)}x (goal <= 1.0x)`,
  );
}

async function benchLanes() {
  const gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  process.env.LLM_API_KEY = "bench";
  const orchestrator = new WorkflowOrchestrator();
  const lanes = (n: number): WorkflowDefinition => ({
    id: `bench-lanes-${n}`,
    name: `${n} lanes`,
    steps: [
      { id: "start", type: "transform", config: { output: "go" } },
      ...Array.from({ length: n }, (_, i) => ({ id: `lane${i}`, type: "llm", config: { model: "slow-300", prompt: `lane ${i}` } })),
    ],
    edges: Array.from({ length: n }, (_, i) => ({ from: "start", to: `lane${i}` })),
  });
  await orchestrator.executeWorkflow(lanes(1));
  const one: number[] = [];
  const four: number[] = [];
  for (let round = 0; round < 5; round++) {
    one.push(await time(() => orchestrator.executeWorkflow(lanes(1))));
    four.push(await time(() => orchestrator.executeWorkflow(lanes(4))));
  }
  const ratio = median(four) / median(one);
  console.log(
    `parallel lanes (300 ms LLM call each): 1 lane median ${median(one).toFixed(0)} ms, 4 lanes median ${median(four).toFixed(0)} ms, ratio ${ratio.toFixed(2)}x (goal <= 1.2x)`,
  );
  await gateway.close();
}

/** Checkpoint storage must grow linearly: bytes per step of a long run vs a short one. */
async function benchBytes() {
  const orchestrator = new WorkflowOrchestrator();
  const { sql } = await getRuntime();
  const perStep = async (steps: number) => {
    const def: WorkflowDefinition = {
      id: `bench-bytes-${steps}`,
      name: "bytes",
      limits: { maxStepExecutions: steps + 10 },
      steps: Array.from({ length: steps }, (_, i) => ({ id: `s${i}`, type: "transform", config: { output: stepOutput(i) } })),
    };
    const { runId } = await orchestrator.executeWorkflow(def, { input: { n: 1 } });
    let total = 0;
    for (const [table, columns] of [
      ["Checkpoint", `LENGTH("checkpoint") + LENGTH("metadata")`],
      ["CheckpointBlob", `LENGTH("blob")`],
      ["CheckpointWrite", `LENGTH("blob")`],
    ])
      total += Number((await sql.query<{ b: number }>(`SELECT SUM(${columns}) AS b FROM "${table}" WHERE "threadId" = ?`, [runId]))[0].b ?? 0);
    return total / steps;
  };
  const short = await perStep(100);
  const long = await perStep(400);
  console.log(
    `checkpoint bytes per step: 100-step run ${short.toFixed(0)} B, 400-step run ${long.toFixed(0)} B, ratio ${(long / short).toFixed(2)}x (goal <= 1.2x)`,
  );
}

try {
  if (which === "all" || which === "chain") await benchChain();
  if (which === "all" || which === "bytes") await benchBytes();
  if (which === "all" || which === "lanes") await benchLanes();
  if (which === "all" || which === "cli") await benchCli();
  if (which === "throughput") await benchThroughput();
  if (which === "canvas") await benchCanvas();
  if (which === "history") await benchHistory();
  if (which === "latency") await benchLatency();
  if (which === "queue") await benchQueue();
  if (which === "governor") await benchGovernor();
} finally {
  await new WorkflowOrchestrator().close();
  rmSync(dataDir, { recursive: true, force: true });
}
