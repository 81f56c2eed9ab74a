// Runs user code for the `code` step in QuickJS (WebAssembly), inside a worker thread so that even a runaway
// script never blocks the server's event loop. Plain JavaScript: worker threads load it without a TS loader.
// The guest gets JSON copies of input/steps/vars and a console (each line posted to the host at once); no host
// objects, no process, require, network or file system exist inside QuickJS.
import { readFile } from "node:fs/promises";
import { parentPort, workerData } from "node:worker_threads";
import variant from "@jitl/quickjs-wasmfile-release-sync";
import { newQuickJSWASMModuleFromVariant, newVariant, shouldInterruptAfterDeadline } from "quickjs-emscripten-core";

const WASM_PAGE_BYTES = 64 * 1024;
/** This QuickJS build declares a WebAssembly memory of at least 256 pages (16 MB). */
const MIN_WASM_PAGES = 256;
const MAX_LOG_LINES = 500;
const MAX_LOG_BYTES = 64 * 1024;
/** Longest error message read out of the guest (a script can throw a string of any size). */
const MAX_ERROR_CHARS = 4000;
/** Time allowed to describe the guest's error once its own deadline has passed. */
const DESCRIBE_MS = 200;

// The memory limit is the WebAssembly memory itself. QuickJS's own limit (runtime.setMemoryLimit) counts with
// malloc_usable_size, which this build lacks, so it never trips; a Memory with a `maximum` cannot grow past it, so
// an allocation beyond fails inside QuickJS as "out of memory" and the guest can never hold more than memoryBytes.
const memory = new WebAssembly.Memory({ initial: MIN_WASM_PAGES, maximum: Math.max(MIN_WASM_PAGES, Math.floor(workerData.memoryBytes / WASM_PAGE_BYTES)) });
// QuickJS's compiled WebAssembly is shared by all workers of the process (the host hands back the one the first
// worker compiled): compiling it again in every worker costs each sandbox time and tens of MB.
const wasmModule =
  workerData.wasmModule ?? (await WebAssembly.compile(await readFile(new URL(import.meta.resolve("@jitl/quickjs-wasmfile-release-sync/wasm")))));
const QuickJS = await newQuickJSWASMModuleFromVariant(newVariant(variant, { wasmMemory: memory, wasmModule }));

// Helpers evaluated in the guest before the user's code, so they see the original JSON and String. What they
// return is still bounded by the host (lengths are checked before a string is copied out of the guest).
const GUEST_HELPERS = `({
  parse: JSON.parse,
  stringify: JSON.stringify,
  format(limit, ...values) {
    let line = "";
    for (let i = 0; i < values.length && line.length < limit; i++) {
      const value = values[i];
      let text;
      try {
        text = typeof value === "string" ? value : JSON.stringify(value);
      } catch {
        // (a cycle, a BigInt)
      }
      if (text === undefined) {
        try {
          text = String(value);
        } catch {
          text = "[unprintable]";
        }
      }
      line += (i ? " " : "") + text;
    }
    return line.length > limit ? line.slice(0, limit) : line;
  },
  describe(error, limit) {
    let text;
    try {
      text = typeof error === "object" && error !== null ? String(error.name ?? "Error") + ": " + String(error.message ?? String(error)) : String(error);
    } catch {
      text = "an error that cannot be shown";
    }
    return text.length > limit ? text.slice(0, limit) + "…" : text;
  },
})`;

/**
 * Whether the guest's memory has grown as far as it can: Emscripten grows it by at least 5% at a time, so the
 * last growth that fits can stop that far below the maximum.
 */
function memoryIsFull() {
  const maximum = Math.max(MIN_WASM_PAGES * WASM_PAGE_BYTES, workerData.memoryBytes);
  return memory.buffer.byteLength >= maximum * 0.9 - 1024 * 1024;
}

/** The longest prefix of `text` that is at most `maxBytes` of UTF-8, never cutting a character in two. */
function clipUtf8(text, maxBytes) {
  const bytes = Buffer.from(text);
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}

function run(job) {
  let logLines = 0;
  let logBytes = 0;
  const runtime = QuickJS.newRuntime();
  runtime.setMaxStackSize(1024 * 1024);
  const deadline = Date.now() + job.timeoutMs;
  runtime.setInterruptHandler(shouldInterruptAfterDeadline(deadline));
  const vm = runtime.newContext();
  const handles = [];
  const keep = (h) => (handles.push(h), h);
  let helpers;
  /** A guest string copied out only if it is at most `maxChars` long; otherwise null. */
  const readString = (handle, maxChars) => {
    if (vm.typeof(handle) !== "string") return null;
    // (context.getLength answers only for objects.)
    const length = vm.getProp(handle, "length").consume((h) => vm.getNumber(h));
    return length <= maxChars ? vm.getString(handle) : null;
  };
  const describe = (errorHandle) => {
    if (!helpers) return null;
    // After a timeout the deadline has passed and every guest call would be interrupted: give describing its own.
    runtime.setInterruptHandler(shouldInterruptAfterDeadline(Date.now() + DESCRIBE_MS));
    const limit = keep(vm.newNumber(MAX_ERROR_CHARS));
    const described = vm.callFunction(keep(vm.getProp(helpers, "describe")), vm.undefined, errorHandle, limit);
    if (described.error) {
      described.error.dispose();
      return null;
    }
    return described.value.consume((h) => readString(h, MAX_ERROR_CHARS + 1));
  };
  const failure = (errorHandle) => {
    const timedOut = Date.now() >= deadline;
    // With no memory left even for an error object, QuickJS throws null.
    const thrownNull = vm.sameValue(errorHandle, vm.null);
    const message = describe(errorHandle);
    errorHandle.dispose();
    if (/out of memory/i.test(message ?? "") || ((message === null || thrownNull) && memoryIsFull()))
      return { ok: false, kind: "memory", message: message ?? "out of memory" };
    if (message === null) return { ok: false, kind: timedOut ? "timeout" : "error", message: "the code failed with an error that cannot be read" };
    if (timedOut || /interrupted/i.test(message)) return { ok: false, kind: "timeout", message };
    return { ok: false, kind: "error", message };
  };
  try {
    const made = vm.evalCode(GUEST_HELPERS, "helpers.js");
    if (made.error) return failure(made.error);
    helpers = keep(made.value);
    const format = keep(vm.getProp(helpers, "format"));
    const consoleObject = keep(vm.newObject());
    for (const level of ["log", "info", "warn", "error", "debug"]) {
      const fn = vm.newFunction(level, (...args) => {
        if (logLines >= MAX_LOG_LINES || logBytes >= MAX_LOG_BYTES) return;
        const remaining = MAX_LOG_BYTES - logBytes;
        // Formatted in the guest, cut to `remaining` characters (each at least one byte) before it is copied out.
        const limit = vm.newNumber(remaining);
        const formatted = vm.callFunction(format, vm.undefined, limit, ...args);
        limit.dispose();
        if (formatted.error) return { error: formatted.error }; // thrown back into the guest (out of memory, interrupted)
        const raw = formatted.value.consume((h) => readString(h, remaining));
        if (raw === null) return;
        const text = clipUtf8(raw, remaining);
        // A line cut short fills the log: nothing after it is kept, not even a few letters of the next line.
        logBytes = text === raw ? logBytes + Buffer.byteLength(text) : MAX_LOG_BYTES;
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
    const stringify = keep(vm.getProp(helpers, "stringify"));
    // One JSON text for all the data; the host checked that it fits in the memory limit twice over, so this
    // copy into the guest's memory cannot fail.
    const dataText = keep(vm.newString(job.data));
    job.data = null;
    const parsed = vm.callFunction(keep(vm.getProp(helpers, "parse")), vm.undefined, dataText);
    if (parsed.error) return failure(parsed.error);
    const data = keep(parsed.value);
    const args = [0, 1, 2, 3, 4].map((i) => keep(vm.getProp(data, i)));
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
    // Each character is at least one byte of UTF-8: a longer string is over the limit without copying it out.
    const output = readString(textHandle, job.maxOutputBytes);
    if (output === null)
      return { ok: false, kind: "output", message: `the returned value is more than the limit of ${job.maxOutputBytes} bytes of JSON; return less data` };
    const outputBytes = Buffer.byteLength(output);
    if (outputBytes > job.maxOutputBytes)
      return { ok: false, kind: "output", message: `the returned value is ${outputBytes} bytes of JSON, more than the limit of ${job.maxOutputBytes}; return less data` };
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
parentPort.postMessage({ ready: true, wasmModule: workerData.wasmModule ? undefined : wasmModule });
