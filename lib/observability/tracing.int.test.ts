import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDb, type Db } from "@/lib/db";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from "@/e2e/fixtures/otlp-receiver";
import { runSpanId, runTraceId } from "./tracing";

/**
 * Traces and logs of real runs in real CLI processes: spans exported over OTLP/HTTP to a receiver on loopback
 * (one run = one trace, a step attempt = a child span of the run's, GenAI attributes on model calls), a run killed
 * mid-step and resumed by another process still one trace, and every log line of a step carrying run and step ids.
 */
const BIN = path.resolve("bin/orchestrator.mjs");
// OTLP span kinds (the JSON encoding's enum: INTERNAL 1, CLIENT 3).
const KIND_INTERNAL = 1;
const KIND_CLIENT = 3;

let dir: string;
let gateway: LlmGateway;
let receiver: OtlpReceiver;
let db: Db;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "orchestrator-otel-"));
  gateway = await startLlmGateway();
  receiver = await startOtlpReceiver();
  env = {
    ...process.env,
    DATABASE_URL: `file:${path.join(dir, "otel.db")}`,
    LLM_GATEWAY_URL: gateway.url,
    LLM_API_KEY: "k",
    ORCHESTRATOR_LEASE_MS: "1000",
    LOG_LEVEL: "silent",
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: "50",
  };
  db = await createDb(env.DATABASE_URL);
});
afterAll(async () => {
  await db.$disconnect();
  await gateway.close();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[], extraEnv: Record<string, string> = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...env, ...extraEnv }, cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, exited, output: () => ({ stdout, stderr }) };
}

const until = async (check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
};

const writeWorkflow = (definition: { id: string; [key: string]: unknown }) => {
  const file = path.join(dir, `${definition.id}.json`);
  writeFileSync(file, JSON.stringify(definition));
  return file;
};

const spansOf = (runId: string) => receiver.spans.filter((s) => s.traceId === runTraceId(runId));
const stepSpans = (runId: string, stepId: string) => spansOf(runId).filter((s) => s.attributes["orchestrator.step.id"] === stepId).sort((a, b) => Number(a.attributes["orchestrator.step.attempt"]) - Number(b.attributes["orchestrator.step.attempt"]));

describe("OpenTelemetry traces over OTLP/HTTP", () => {
  it("a run is one trace: its root span, a child span per step attempt, GenAI attributes on model calls", async () => {
    const tag = Date.now().toString(36);
    const file = writeWorkflow({
      id: `otel-${tag}`,
      name: "Traced",
      steps: [
        // flaky-1: the first request fails with 503, the retry succeeds: two attempts, two spans.
        { id: "ask", type: "llm", config: { model: "flaky-1", prompt: `Tell me about owls ${tag}` }, retry: { maxAttempts: 2, initialDelayMs: 1 } },
        { id: "shape", type: "transform", config: { output: "{{ steps.ask.text }}" } },
      ],
      edges: [{ from: "ask", to: "shape" }],
    });
    const cli = start(["run", file, "--json"]);
    expect(await cli.exited, cli.output().stderr).toBe(0);
    const { id: runId } = await db.run.findFirstOrThrow({ where: { workflowId: `otel-${tag}` } });
    const record = await db.stepRun.findFirstOrThrow({ where: { runId, stepId: "ask" } });

    // The CLI flushes its spans before it exits.
    const spans = spansOf(runId);
    const root = spans.find((s) => s.spanId === runSpanId(runId));
    expect(root, JSON.stringify(spans.map((s) => s.name))).toBeDefined();
    expect(root!.parentSpanId).toBeUndefined();
    expect(root!.attributes).toMatchObject({ "orchestrator.run.id": runId, "orchestrator.workflow.id": `otel-${tag}`, "orchestrator.run.status": "succeeded" });
    expect(root!.resource["service.name"]).toBe("orchestrator");

    const ask = stepSpans(runId, "ask");
    expect(ask).toHaveLength(2);
    for (const [i, span] of ask.entries()) {
      expect(span.parentSpanId).toBe(root!.spanId);
      expect(span.name).toBe("chat flaky-1");
      expect(span.kind).toBe(KIND_CLIENT);
      expect(span.attributes).toMatchObject({
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "flaky-1",
        "gen_ai.provider.name": "openai",
        "gen_ai.system": "openai",
        "orchestrator.step.kind": "llm",
        "orchestrator.step.execution": 1,
        "orchestrator.step.attempt": i + 1,
      });
      expect(span.startMs).toBeGreaterThanOrEqual(root!.startMs);
      expect(span.endMs).toBeLessThanOrEqual(root!.endMs);
    }
    expect(ask[0]!.status?.code).toBe(2); // ERROR
    expect(ask[0]!.attributes["error.type"]).toBe("LLM_REQUEST_FAILED");
    expect(ask[0]!.attributes["gen_ai.usage.input_tokens"]).toBeUndefined();
    expect(ask[1]!.attributes).toMatchObject({
      "gen_ai.usage.input_tokens": record.promptTokens,
      "gen_ai.usage.output_tokens": record.completionTokens,
      "gen_ai.response.model": "flaky-1",
      "orchestrator.step.status": "succeeded",
    });
    expect(record.promptTokens).toBeGreaterThan(0);

    const [shape] = stepSpans(runId, "shape");
    expect(shape).toMatchObject({ name: "step shape", kind: KIND_INTERNAL, parentSpanId: root!.spanId });
    expect(shape!.attributes["gen_ai.operation.name"]).toBeUndefined();
    expect(spans).toHaveLength(4);
    expect(receiver.rejected).toEqual([]);
  }, 60_000);

  it("a run killed mid-step and resumed by another process is still one trace under one root span", async () => {
    const tag = Date.now().toString(36);
    const file = writeWorkflow({
      id: `otel-crash-${tag}`,
      name: "Traced crash",
      steps: [
        { id: "first", type: "llm", config: { model: "slow-50", prompt: `alpha ${tag}` } },
        { id: "second", type: "llm", config: { model: "slow-3000", prompt: `beta ${tag}` } },
      ],
    });
    const prompt = (r: { messages: Array<{ content: string }> }) => r.messages.at(-1)?.content;
    const victim = start(["run", file, "--json"]);
    await until(() => gateway.requests.some((r) => prompt(r) === `beta ${tag}`), "the second step to be in flight");
    const { id: runId } = await db.run.findFirstOrThrow({ where: { workflowId: `otel-crash-${tag}` } });
    // The first step's span leaves the process before it dies (batches every 50 ms).
    await until(() => stepSpans(runId, "first").length === 1, "the first step's span");
    victim.child.kill("SIGKILL");
    await victim.exited;

    const rescuer = start(["resume", runId, "--json"]);
    expect(await rescuer.exited, rescuer.output().stderr).toBe(0);
    expect(await db.run.findUniqueOrThrow({ where: { id: runId } })).toMatchObject({ status: "succeeded" });

    const spans: ReceivedSpan[] = spansOf(runId);
    const roots = spans.filter((s) => !s.parentSpanId);
    expect(roots).toHaveLength(1);
    const root = roots[0]!;
    expect(root.spanId).toBe(runSpanId(runId));
    const [first] = stepSpans(runId, "first");
    const second = stepSpans(runId, "second");
    // The killed process exported the first step; the rescuer the second (run again) and the root.
    expect(first!.resource["process.pid"]).toBe(victim.child.pid);
    expect(second).toHaveLength(1);
    expect(second[0]!.resource["process.pid"]).toBe(rescuer.child.pid);
    expect(root.resource["process.pid"]).toBe(rescuer.child.pid);
    for (const span of [first!, second[0]!]) expect(span.parentSpanId).toBe(root.spanId);
    // The root covers the run from its first start, in the process that died.
    expect(root.startMs).toBeLessThanOrEqual(first!.startMs);
    expect(root.endMs).toBeGreaterThanOrEqual(second[0]!.endMs);
  }, 60_000);
});

describe("runs decided or cancelled in another process", () => {
  const approvalWorkflow = (id: string) =>
    writeWorkflow({
      id,
      name: "Traced approval",
      steps: [
        { id: "draft", type: "llm", config: { model: "e2e-model", prompt: `draft ${id}` } },
        { id: "ok", type: "approval", config: { message: "ship it?" } },
        { id: "after", type: "transform", config: { output: "{{ steps.ok }}" } },
      ],
      edges: [
        { from: "draft", to: "ok" },
        { from: "ok", to: "after" },
      ],
    });

  it("approved by another process: one trace, the root span from the run's start exported by the process that ended it", async () => {
    const id = `otel-approve-${Date.now().toString(36)}`;
    const first = start(["run", approvalWorkflow(id), "--json"]);
    await first.exited;
    const { id: runId, status } = await db.run.findFirstOrThrow({ where: { workflowId: id } });
    expect(status).toBe("waiting");
    // The first process exported its steps, not the root: the run has not ended.
    expect(spansOf(runId).map((s) => s.attributes["orchestrator.step.id"]).sort()).toEqual(["draft", "ok"]);
    expect(spansOf(runId).find((s) => s.attributes["orchestrator.step.id"] === "ok")!.attributes["orchestrator.step.status"]).toBe("waiting");

    const second = start(["approve", runId, "--json"]);
    expect(await second.exited, second.output().stderr).toBe(0);
    const spans = spansOf(runId);
    const root = spans.find((s) => !s.parentSpanId)!;
    expect(root).toMatchObject({ spanId: runSpanId(runId), attributes: { "orchestrator.run.status": "succeeded" } });
    expect(root.resource["process.pid"]).toBe(second.child.pid);
    for (const span of spans.filter((s) => s !== root)) {
      expect(span.parentSpanId).toBe(root.spanId);
      expect(span.startMs).toBeGreaterThanOrEqual(root.startMs);
    }
    expect(stepSpans(runId, "draft")[0]!.resource["process.pid"]).toBe(first.child.pid);
    expect(stepSpans(runId, "after")[0]!.resource["process.pid"]).toBe(second.child.pid);
  }, 60_000);

  it("cancelled while it waits (no execution ends it): the root span says cancelled", async () => {
    const id = `otel-cancel-${Date.now().toString(36)}`;
    await start(["run", approvalWorkflow(id), "--json"]).exited;
    const { id: runId } = await db.run.findFirstOrThrow({ where: { workflowId: id } });
    const cancel = start(["cancel", runId, "--json"]);
    expect(await cancel.exited, cancel.output().stderr).toBe(0);
    const root = spansOf(runId).find((s) => !s.parentSpanId)!;
    expect(root).toMatchObject({ spanId: runSpanId(runId), attributes: { "orchestrator.run.status": "cancelled", "error.type": "CANCELLED" } });
    expect(root.status?.code).toBe(2);
    expect(root.resource["process.pid"]).toBe(cancel.child.pid);
  }, 60_000);
});

describe("structured logs", () => {
  it("every line logged within a step carries runId and stepId; the run's lines carry runId", async () => {
    const tag = Date.now().toString(36);
    const file = writeWorkflow({
      id: `logs-${tag}`,
      name: "Logged",
      steps: [
        { id: "ask", type: "llm", config: { model: "flaky-1", prompt: `logs ${tag}` }, retry: { maxAttempts: 2, initialDelayMs: 1 } },
        { id: "script", type: "code", config: { code: "console.log('hello from the sandbox'); console.warn('careful'); return 1;" } },
        { id: "shape", type: "transform", config: { output: "{{ steps.script }}" } },
      ],
      edges: [
        { from: "ask", to: "script" },
        { from: "script", to: "shape" },
      ],
    });
    const cli = start(["run", file, "--json"], { LOG_LEVEL: "debug", OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    expect(await cli.exited, cli.output().stderr).toBe(0);
    const { id: runId } = await db.run.findFirstOrThrow({ where: { workflowId: `logs-${tag}` } });
    const lines = cli
      .output()
      .stdout.split("\n")
      .filter((line) => line.startsWith('{"level"'))
      .map((line) => JSON.parse(line) as { level: number; msg: string; runId?: string; stepId?: string; text?: string });

    // Lines between a step's start and its end (the steps run one after another) belong to it.
    const byStep = new Map<string, typeof lines>();
    let current: string | undefined;
    for (const line of lines) {
      if (line.msg === "step started") current = line.stepId ?? "(missing)";
      if (current) byStep.set(current, [...(byStep.get(current) ?? []), line]);
      if (line.msg === "step ended") current = undefined;
    }
    expect([...byStep.keys()]).toEqual(["ask", "script", "shape"]);
    for (const [stepId, stepLines] of byStep) {
      expect(stepLines.length).toBeGreaterThanOrEqual(2);
      for (const line of stepLines) expect(line, JSON.stringify(line)).toMatchObject({ runId, stepId });
    }
    // The retry and the sandbox's console lines are among them.
    expect(byStep.get("ask")!.map((l) => l.msg)).toContain("step attempt failed, retrying");
    expect(byStep.get("script")!.map((l) => l.text)).toEqual(expect.arrayContaining(["hello from the sandbox", "careful"]));
    // Every line of the run carries its id.
    const runLines = lines.filter((l) => l.runId !== undefined);
    expect(runLines.map((l) => l.msg)).toEqual(expect.arrayContaining(["run executing", "run ended"]));
    for (const line of lines.filter((l) => l.msg.startsWith("step ") || l.msg.startsWith("run "))) expect(line.runId).toBe(runId);
    // At the default level the CLI's standard output is its result alone.
    const quiet = start(["run", file, "--json"], { LOG_LEVEL: "info", OTEL_EXPORTER_OTLP_ENDPOINT: "" });
    expect(await quiet.exited, quiet.output().stderr).toBe(0);
    expect(JSON.parse(quiet.output().stdout)).toMatchObject({ status: "succeeded" });
    // Without OTEL_EXPORTER_OTLP_ENDPOINT nothing is exported.
    await new Promise((r) => setTimeout(r, 200));
    expect(spansOf(runId)).toEqual([]);
  }, 60_000);
});
