import { Worker } from "node:worker_threads";
import { StepError } from "../errors";
import { Semaphore } from "../semaphore";
import type { StepExecutor } from "./types";

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_MEMORY_MB = 64;
const MAX_OUTPUT_BYTES = 5 * 1024 * 1024;
/** Time to start the worker and load QuickJS, on top of the code's own limit, before the worker is killed. */
const STARTUP_GRACE_MS = 5000;

type Outcome = { ok: true; output: string } | { ok: false; kind: "timeout" | "memory" | "error" | "output"; message: string };
type WorkerReply = { ready: true } | { log: LogLine } | Outcome;

export interface LogLine {
  level: string;
  text: string;
}

const WORKER_URL = new URL("../sandbox/quickjs-worker.mjs", import.meta.url);

/**
 * Runs a JavaScript function body in QuickJS (WebAssembly) in a worker thread: `input`, `steps` and `vars`
 * are copied in as JSON, the returned JSON value is the output. Memory (QuickJS allocator limit) and time (an
 * interrupt handler inside, and the worker killed from outside as a backstop) are limited; there is no
 * process, require, network or file system inside. Console output streams to the step log as it is written.
 */
export const codeExecutor: StepExecutor = async (config, ctx) => {
  const timeoutMs = Number(config.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const memoryMb = Number(config.memoryMb ?? DEFAULT_MEMORY_MB);
  const context = ctx.data;
  const release = await sandboxMemory.acquire(memoryMb, ctx.signal);
  let reply: Outcome;
  try {
    reply = await runInWorker(
      { code: String(config.code), input: context.input, steps: context.steps, vars: context.vars, item: context.item ?? null, index: context.index ?? null, timeoutMs, memoryBytes: memoryMb * 1024 * 1024, maxOutputBytes: MAX_OUTPUT_BYTES },
      timeoutMs + STARTUP_GRACE_MS,
      ctx.signal,
      (line) => ctx.log(line.level, line.text),
    );
  } finally {
    release();
  }
  if (reply.ok) return JSON.parse(reply.output);
  const where = `step "${ctx.stepId}"`;
  switch (reply.kind) {
    case "timeout":
      throw new StepError("CODE_TIMEOUT", `${where}: the code ran longer than its limit of ${timeoutMs} ms (an endless loop?); raise timeoutMs if it needs longer`, { stepId: ctx.stepId });
    case "memory":
      throw new StepError("CODE_MEMORY", `${where}: the code used more than its memory limit of ${memoryMb} MB; raise memoryMb if it needs more`, { stepId: ctx.stepId });
    case "output":
      throw new StepError("CODE_OUTPUT_INVALID", `${where}: ${reply.message}`, { stepId: ctx.stepId });
    default:
      throw new StepError("CODE_ERROR", `${where}: ${reply.message}`, { stepId: ctx.stepId });
  }
};

/**
 * The memory all sandboxes of this process may hold at once (env ORCHESTRATOR_CODE_MEMORY_MB, default 1024):
 * a map running many code items at once, or many runs, queue for it instead of exhausting the host.
 */
export const sandboxMemory = new Semaphore(() => Number(process.env.ORCHESTRATOR_CODE_MEMORY_MB) || 1024);

function runInWorker(job: Record<string, unknown>, hardLimitMs: number, signal: AbortSignal, onLog: (line: LogLine) => void): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // The worker's own heap is capped too, so a huge value cannot exhaust the server's memory.
    const worker = new Worker(WORKER_URL, { resourceLimits: { maxOldGenerationSizeMb: 256, maxYoungGenerationSizeMb: 32 }, stdout: true, stderr: true });
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      void worker.terminate();
      fn();
    };
    const timer = setTimeout(
      () => finish(() => resolve({ ok: false, kind: "timeout", message: "killed after the hard time limit" })),
      hardLimitMs,
    );
    const onAbort = () => finish(() => reject(signal.reason ?? new Error("aborted")));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    worker.on("message", (reply: WorkerReply) => {
      if ("ready" in reply) worker.postMessage(job);
      else if ("log" in reply) {
        if (!settled) onLog(reply.log);
      } else finish(() => resolve(reply));
    });
    worker.on("error", (err) =>
      finish(() =>
        resolve(
          /memory/i.test(err.message)
            ? { ok: false, kind: "memory", message: err.message }
            : { ok: false, kind: "error", message: `the sandbox stopped: ${err.message}` },
        ),
      ),
    );
    worker.on("exit", (code) => finish(() => resolve({ ok: false, kind: "error", message: `the sandbox exited (${code})` })));
  });
}
