// Runs user code for the `code` step in QuickJS (WebAssembly), inside a worker thread so that even a runaway
// script never blocks the server's event loop. Plain JavaScript: worker threads load it without a TS loader.
// The guest gets JSON copies of input/steps/vars and a console (each line posted to the host at once); no host objects, no process, require, network
// or file system exist inside QuickJS.
import { parentPort } from "node:worker_threads";
import variant from "@jitl/quickjs-wasmfile-release-sync";
import { newQuickJSWASMModuleFromVariant, shouldInterruptAfterDeadline } from "quickjs-emscripten-core";

const QuickJS = await newQuickJSWASMModuleFromVariant(variant);
const MAX_LOG_LINES = 500;
const MAX_LOG_CHARS = 64 * 1024;

function run(job) {
  let logLines = 0;
  let logChars = 0;
  const runtime = QuickJS.newRuntime();
  runtime.setMemoryLimit(job.memoryBytes);
  runtime.setMaxStackSize(1024 * 1024);
  const deadline = Date.now() + job.timeoutMs;
  runtime.setInterruptHandler(shouldInterruptAfterDeadline(deadline));
  const vm = runtime.newContext();
  const handles = [];
  const keep = (h) => (handles.push(h), h);
  const failure = (errorHandle) => {
    const error = vm.dump(errorHandle);
    errorHandle.dispose();
    const message = typeof error === "object" && error !== null ? `${error.name ?? "Error"}: ${error.message ?? String(error)}` : String(error);
    if (/out of memory/i.test(message) || error === null) return { ok: false, kind: "memory", message };
    if (Date.now() >= deadline || /interrupted/i.test(message)) return { ok: false, kind: "timeout", message };
    return { ok: false, kind: "error", message };
  };
  try {
    const consoleObject = keep(vm.newObject());
    for (const level of ["log", "info", "warn", "error", "debug"]) {
      const fn = vm.newFunction(level, (...args) => {
        if (logLines >= MAX_LOG_LINES || logChars >= MAX_LOG_CHARS) return;
        const text = args
          .map((a) => {
            const v = vm.dump(a);
            return typeof v === "string" ? v : JSON.stringify(v);
          })
          .join(" ")
          .slice(0, MAX_LOG_CHARS - logChars);
        logChars += text.length;
        logLines++;
        // Posted as it happens: the step log shows it while the code still runs.
        parentPort.postMessage({ log: { level, text } });
      });
      vm.setProp(consoleObject, level, fn);
      fn.dispose();
    }
    vm.setProp(vm.global, "console", consoleObject);

    const compiled = vm.evalCode(`(async function (input, steps, vars, item, index) {\n"use strict";\n${job.code}\n})`, "code-step.js");
    if (compiled.error) return failure(compiled.error);
    const fn = keep(compiled.value);
    const json = keep(vm.getProp(vm.global, "JSON"));
    const parse = keep(vm.getProp(json, "parse"));
    const stringify = keep(vm.getProp(json, "stringify"));
    const args = [];
    for (const value of [job.input, job.steps, job.vars, job.item, job.index]) {
      const text = keep(vm.newString(JSON.stringify(value ?? null)));
      const parsed = vm.callFunction(parse, vm.undefined, text);
      if (parsed.error) return failure(parsed.error);
      args.push(keep(parsed.value));
    }
    const called = vm.callFunction(fn, vm.undefined, ...args);
    if (called.error) return failure(called.error);
    let result = keep(called.value);
    // An async function body returns a promise: let it settle (its jobs run under the same deadline).
    const jobs = runtime.executePendingJobs();
    if (jobs.error) return failure(jobs.error);
    const state = vm.getPromiseState(result);
    if (state.type === "pending") return { ok: false, kind: "error", message: "the code returned a promise that never settled (there are no timers or network here)" };
    if (state.type === "rejected") return failure(state.error);
    if (state.value !== result) result = keep(state.value);
    if (vm.typeof(result) === "undefined") return { ok: true, output: "null" };
    const text = vm.callFunction(stringify, vm.undefined, result);
    if (text.error) return failure(text.error);
    const textHandle = keep(text.value);
    if (vm.typeof(textHandle) !== "string")
      return { ok: false, kind: "output", message: "the returned value cannot be turned into JSON (a function or a symbol?)" };
    const output = vm.getString(textHandle);
    if (output.length > job.maxOutputBytes)
      return { ok: false, kind: "output", message: `the returned value is ${output.length} bytes of JSON, more than the limit of ${job.maxOutputBytes}` };
    return { ok: true, output };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/out of memory|memory access out of bounds/i.test(message)) return { ok: false, kind: "memory", message };
    return { ok: false, kind: "error", message };
  } finally {
    for (const h of handles.reverse()) if (h.alive) h.dispose();
    try {
      vm.dispose();
      runtime.dispose();
    } catch {
      // A runtime that ran out of memory may not dispose cleanly; the worker ends anyway.
    }
  }
}

parentPort.on("message", (job) => parentPort.postMessage(run(job)));
parentPort.postMessage({ ready: true });
