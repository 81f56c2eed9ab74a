import { Worker } from "node:worker_threads";
import { StepError } from "../errors";
import { Semaphore } from "../semaphore";
import type { StepExecutor } from "./types";

const DEFAULT_TIMEOUT_MS = 1000;
const DEFAULT_MEMORY_MB = 64;
/** The QuickJS build's WebAssembly memory starts at 16 MB: no sandbox can be smaller. */
export const MIN_MEMORY_MB = 16;
const MAX_OUTPUT_BYTES = 5 * 1024 * 1024;
const MB = 1024 * 1024;
/**
 * The worker thread's own JavaScript heap (old generation), on top of the data it is handed: it holds the
 * returned JSON (at most 5 MB of UTF-8, up to 10 MB as a JavaScript string) and the log lines on their way out.
 */
const WORKER_HEAP_MB = 24;
const WORKER_YOUNG_HEAP_MB = 4;
/**
 * What one sandbox costs in real memory besides its WebAssembly memory (memoryMb) and its data: the worker thread
 * (its V8 isolate and Node's environment, measured at 8-16 MB) and its heap limits. QuickJS's compiled code is
 * shared by all sandboxes of the process (compiled once, about 30 MB while the first sandbox runs).
 */
export const SANDBOX_OVERHEAD_MB = 16 + WORKER_HEAP_MB + WORKER_YOUNG_HEAP_MB;
/** Data up to this size stays serialized while its step waits for the memory budget. */
const QUEUED_DATA_BYTES = 64 * 1024;
/** Time to start the worker and load QuickJS, on top of the code's own limit, before the worker is killed. */
const STARTUP_GRACE_MS = 5000;

type Outcome = { ok: true; output: string } | { ok: false; kind: "timeout" | "memory" | "error" | "output"; message: string };
type WorkerReply = { ready: true; wasmModule?: WebAssembly.Module } | { log: LogLine } | Outcome;

export interface LogLine {
  level: string;
  text: string;
}

const WORKER_URL = new URL("../sandbox/quickjs-worker.mjs", import.meta.url);
/** QuickJS's WebAssembly as compiled by the first worker, handed to every later one (compiled once per process). */
let compiledQuickJS: WebAssembly.Module | undefined;

/**
 * Runs a JavaScript function body in QuickJS (WebAssembly) in a worker thread: `input`, `steps` and `vars`
 * are copied in as JSON, the returned JSON value is the output. Memory is bounded by the sandbox's WebAssembly
 * memory (it cannot grow past memoryMb) and the worker's heap limits; time by an interrupt handler inside and the
 * worker killed from outside as a backstop. There is no process, require, network or file system inside.
 * Console output streams to the step log as it is written.
 */
export const codeExecutor: StepExecutor = async (config, ctx) => {
  const timeoutMs = Number(config.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const memoryMb = Math.max(MIN_MEMORY_MB, Number(config.memoryMb ?? DEFAULT_MEMORY_MB));
  const where = `step "${ctx.stepId}"`;
  const memoryLimit = (what: string, fix = "if it needs more") =>
    new StepError("CODE_MEMORY_LIMIT", `${where}: ${what} more than its memory limit of ${memoryMb} MB; raise memoryMb (up to 1024) ${fix}`, { stepId: ctx.stepId });
  const context = ctx.data;
  const serialize = () => JSON.stringify([context.input, context.steps, context.vars, context.item ?? null, context.index ?? null]);
  let data: string | undefined = serialize();
  const dataBytes = Buffer.byteLength(data);
  // The data is copied into the guest's memory as text and then parsed there: it needs at least twice its size.
  if (dataBytes * 2 > memoryMb * MB) {
    throw memoryLimit(`the data copied into the sandbox (input, steps and vars) is ${(dataBytes / MB).toFixed(1)} MB of JSON and needs twice that,`, "or pass it less data");
  }
  // A step waiting for the budget keeps no copy of large data: it is serialized again once the step may run.
  if (dataBytes > QUEUED_DATA_BYTES) data = undefined;
  const dataMb = Math.ceil(dataBytes / MB);
  // The budget is charged what the sandbox really holds: its memory, its data (the host's text and the worker's) and
  // the worker thread around it.
  const release = await sandboxMemory.acquire(memoryMb + 2 * dataMb + SANDBOX_OVERHEAD_MB, ctx.signal);
  let reply: Outcome;
  try {
    reply = await runInWorker(
      { memoryBytes: memoryMb * MB, heapMb: WORKER_HEAP_MB + dataMb },
      { code: String(config.code), data: data ?? serialize(), timeoutMs, maxOutputBytes: MAX_OUTPUT_BYTES },
      timeoutMs + STARTUP_GRACE_MS,
      ctx.signal,
      (line) => ctx.log(line.level, line.text),
    );
  } finally {
    release();
  }
  if (reply.ok) return JSON.parse(reply.output);
  switch (reply.kind) {
    case "timeout":
      throw new StepError("CODE_TIMEOUT", `${where}: the code ran longer than its limit of ${timeoutMs} ms (an endless loop?); raise timeoutMs if it needs longer`, { stepId: ctx.stepId });
    case "memory":
      throw memoryLimit("the code needed");
    case "output":
      throw new StepError("CODE_OUTPUT_INVALID", `${where}: ${reply.message}`, { stepId: ctx.stepId });
    default:
      throw new StepError("CODE_ERROR", `${where}: ${reply.message}`, { stepId: ctx.stepId });
  }
};

/**
 * The memory all sandboxes of this process may hold at once (env ORCHESTRATOR_CODE_MEMORY_MB, default 1024), in
 * MB of real memory: each sandbox takes memoryMb + twice its data + SANDBOX_OVERHEAD_MB. A map running many code items
 * at once, or many runs, queue for it instead of exhausting the host.
 */
export const sandboxMemory = new Semaphore(() => Number(process.env.ORCHESTRATOR_CODE_MEMORY_MB) || 1024);

function runInWorker(
  limits: { memoryBytes: number; heapMb: number },
  job: Record<string, unknown>,
  hardLimitMs: number,
  signal: AbortSignal,
  onLog: (line: LogLine) => void,
): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    // The guest's memory is the worker's WebAssembly memory (sized from workerData); the worker's own JavaScript
    // heap is capped too, so nothing the guest does can make the thread around it grow.
    const worker = new Worker(WORKER_URL, {
      workerData: { memoryBytes: limits.memoryBytes, wasmModule: compiledQuickJS },
      resourceLimits: { maxOldGenerationSizeMb: limits.heapMb, maxYoungGenerationSizeMb: WORKER_YOUNG_HEAP_MB },
      stdout: true,
      stderr: true,
    });
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
      if ("ready" in reply) {
        compiledQuickJS ??= reply.wasmModule;
        worker.postMessage(job);
      } else if ("log" in reply) {
        if (!settled) onLog(reply.log);
      } else finish(() => resolve(reply));
    });
    worker.on("error", (err) =>
      finish(() =>
        resolve(
          (err as NodeJS.ErrnoException).code === "ERR_WORKER_OUT_OF_MEMORY" || /out of memory/i.test(err.message)
            ? { ok: false, kind: "memory", message: err.message }
            : { ok: false, kind: "error", message: `the sandbox stopped: ${err.message}` },
        ),
      ),
    );
    worker.on("exit", (code) => finish(() => resolve({ ok: false, kind: "error", message: `the sandbox exited (${code})` })));
  });
}
