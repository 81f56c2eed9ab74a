import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { validateWorkflow } from "@/lib/workflow/validate";
import { StepError } from "../errors";
import { codeExecutor, sandboxMemory, SANDBOX_OVERHEAD_MB } from "./code";
import type { StepContext } from "./types";
import { testStepContext } from "./test-context";

/** The code step's sandbox (QuickJS in a worker thread): results, logs, and hostile code contained. */
function context(data: Partial<StepContext["data"]> = {}) {
  return testStepContext({ stepId: "calc", data: { input: {}, steps: {}, vars: {}, ...data } });
}

async function failure(config: Record<string, unknown>, data?: Partial<StepContext["data"]>): Promise<StepError> {
  try {
    await codeExecutor(config, context(data).ctx);
  } catch (err) {
    return err as StepError;
  }
  throw new Error("expected the code step to fail");
}

/** Samples this process's resident memory (worker threads included) until stopped; returns the growth in MB. */
function watchResidentMemory() {
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 2);
  return () => {
    clearInterval(timer);
    peak = Math.max(peak, process.memoryUsage.rss());
    return (peak - baseline) / (1024 * 1024);
  };
}

const STRING_BOMB = 'const keep = []; while (true) keep.push("x".repeat(1 << 20) + keep.length);';
const OBJECT_BOMB = "const keep = []; while (true) keep.push({ n: keep.length, list: [1, 2, 3], nested: { a: [keep.length] } });";

afterEach(() => {
  delete (Object.prototype as Record<string, unknown>).polluted;
});

describe("code step", () => {
  // The first sandbox of a process compiles QuickJS's WebAssembly (once, shared by all later ones): done here, so
  // the memory measured below is each sandbox's own.
  beforeAll(async () => {
    await codeExecutor({ code: "return 1;" }, context().ctx);
  });

  it("returns the function body's JSON value, with input, steps and vars copied in, and captures console output", async () => {
    const { ctx, logs } = context({ input: { n: 21 }, steps: { prev: { items: [1, 2, 3] } }, vars: { factor: 10 } });
    const output = await codeExecutor(
      { code: 'console.log("n is", input.n, { ok: true }); console.warn("careful"); return { doubled: input.n * 2, sum: steps.prev.items.reduce((a, b) => a + b, 0) * vars.factor };' },
      ctx,
    );
    expect(output).toEqual({ doubled: 42, sum: 60 });
    expect(logs).toEqual([
      { level: "log", text: 'n is 21 {"ok":true}' },
      { level: "warn", text: "careful" },
    ]);
  });

  it("streams console lines to the step log while the code still runs", async () => {
    const seen: number[] = [];
    const { ctx } = testStepContext({ stepId: "calc", log: () => void seen.push(Date.now()) });
    const output = await codeExecutor({ code: 'console.log("started"); const end = Date.now() + 800; while (Date.now() < end) {} return "done";', timeoutMs: 3000 }, ctx);
    const finished = Date.now();
    expect(output).toBe("done");
    expect(seen).toHaveLength(1);
    expect(finished - seen[0]).toBeGreaterThan(500); // logged at the start, not handed over at the end
  });

  it("sees the current item and index inside a map", async () => {
    expect(await codeExecutor({ code: "return `${index}:${item.name}`;" }, context({ item: { name: "owl" }, index: 2 }).ctx)).toBe("2:owl");
  });

  it("supports await and returns null for no return value", async () => {
    expect(await codeExecutor({ code: "const x = await Promise.resolve(3); return x + 1;" }, context().ctx)).toBe(4);
    expect(await codeExecutor({ code: "const unused = 1;" }, context().ctx)).toBeNull();
  });

  it("stops an endless loop at its time limit while the server's event loop keeps running", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    const started = Date.now();
    const error = await failure({ code: "while (true) {}", timeoutMs: 500 });
    clearInterval(timer);
    expect(error).toMatchObject({ code: "CODE_TIMEOUT", stepId: "calc" });
    expect(error.message).toMatch(/longer than its limit of 500 ms/);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(ticks).toBeGreaterThan(10); // the host kept serving while the guest spun
  });

  it.each([
    ["strings", STRING_BOMB],
    ["arrays and objects", OBJECT_BOMB],
  ])("stops an allocation loop of %s at memoryMb 32 quickly, holding no more real memory than that", async (_, code) => {
    const timeoutMs = 20_000;
    const grown = watchResidentMemory();
    const started = Date.now();
    const error = await failure({ code, memoryMb: 32, timeoutMs });
    const elapsed = Date.now() - started;
    const grewMb = grown();
    expect(error).toMatchObject({ code: "CODE_MEMORY_LIMIT", stepId: "calc" });
    expect(error.message).toBe('step "calc": the code needed more than its memory limit of 32 MB; raise memoryMb (up to 1024) if it needs more');
    expect(elapsed).toBeLessThan(timeoutMs / 4); // stopped by the limit, not by the clock
    // The sandbox's share of the process budget (its memory + the worker around it) is a real bound.
    expect(grewMb).toBeLessThan(32 + SANDBOX_OVERHEAD_MB);
  });

  it("keeps the process answering HTTP while a sandbox runs out of memory, and after", async () => {
    const server = http.createServer((_, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    let running = true;
    let answered = 0;
    const asking = (async () => {
      while (running) {
        if ((await (await fetch(url)).text()) === "ok") answered++;
      }
    })();
    try {
      // Kept reachable from a global: the guest's memory stays full while the failure is reported.
      const error = await failure({ code: STRING_BOMB.replace("const keep = []", "globalThis.keep = []"), memoryMb: 32, timeoutMs: 20_000 });
      running = false;
      await asking;
      expect(error.code).toBe("CODE_MEMORY_LIMIT");
      expect(answered).toBeGreaterThan(0);
      expect(await (await fetch(url)).text()).toBe("ok");
      expect(await codeExecutor({ code: "return 1 + 1;" }, context().ctx)).toBe(2); // and runs code again
    } finally {
      running = false;
      server.close();
    }
  });

  it("runs a memoryMb below the smallest sandbox (16 MB) with 16 MB: saved workflows stay valid, the limit still holds", async () => {
    const step = (memoryMb: number) => ({ id: "w", name: "w", steps: [{ id: "calc", type: "code", config: { code: "return 1;", memoryMb } }] });
    expect(validateWorkflow(step(8)).issues).toEqual([]);
    expect(validateWorkflow(step(2000)).issues).toEqual([expect.objectContaining({ stepId: "calc", field: "config.memoryMb" })]);
    const error = await failure({ code: "const keep = []; for (;;) keep.push('x'.repeat(1024 * 1024) + keep.length);", memoryMb: 8 });
    expect(error.code).toBe("CODE_MEMORY_LIMIT");
    expect(error.message).toMatch(/memory limit of 16 MB/);
  });

  it("refuses data copied in that cannot fit in the memory limit, before starting a sandbox", async () => {
    const error = await failure({ code: "return input.text.length;", memoryMb: 16 }, { input: { text: "x".repeat(9 * 1024 * 1024) } });
    expect(error).toMatchObject({ code: "CODE_MEMORY_LIMIT", stepId: "calc" });
    expect(error.message).toMatch(/the data copied into the sandbox \(input, steps and vars\) is 9\.0 MB of JSON and needs twice that, more than its memory limit of 16 MB; raise memoryMb/);
    expect(await codeExecutor({ code: "return input.text.length;", memoryMb: 64 }, context({ input: { text: "x".repeat(9 * 1024 * 1024) } }).ctx)).toBe(9 * 1024 * 1024);
  });

  it("has no process, require, network or file system, also through the Function constructor", async () => {
    const escape = await failure({ code: 'return ({}).constructor.constructor("return process")().env;' });
    expect(escape).toMatchObject({ code: "CODE_ERROR" });
    expect(escape.message).toMatch(/'?process'? is not defined/);
    expect(await codeExecutor({ code: "return [typeof process, typeof require, typeof fetch, typeof XMLHttpRequest, typeof globalThis.process];" }, context().ctx)).toEqual([
      "undefined",
      "undefined",
      "undefined",
      "undefined",
      "undefined",
    ]);
    const importing = await failure({ code: 'const fs = await import("fs"); return fs.readFileSync("/etc/passwd", "utf8");' });
    expect(importing.code).toBe("CODE_ERROR");
  });

  it("cannot pollute the host's prototypes or reach host objects", async () => {
    const input = { n: 1 };
    await codeExecutor({ code: 'Object.prototype.polluted = "yes"; input.__proto__.polluted = "yes"; input.n = 99; return 1;' }, context({ input }).ctx);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(input.n).toBe(1);
  });

  it("refuses a huge output and reports errors thrown by the code with their message", async () => {
    const huge = await failure({ code: 'return "x".repeat(6 * 1024 * 1024);', memoryMb: 128 });
    expect(huge).toMatchObject({ code: "CODE_OUTPUT_INVALID" });
    expect(huge.message).toMatch(/more than the limit/);
    const thrown = await failure({ code: 'throw new TypeError("bad input: " + input.n);' }, { input: { n: 5 } });
    expect(thrown).toMatchObject({ code: "CODE_ERROR", message: 'step "calc": TypeError: bad input: 5' });
    const syntax = await failure({ code: "return {" });
    expect(syntax.code).toBe("CODE_ERROR");
    expect(syntax.message).toMatch(/SyntaxError/);
  });

  it("caps the output and the console log in UTF-8 bytes, not characters", async () => {
    // 2,000,000 "€" are 2,000,002 characters of JSON, under the 5 MB cap, but 6,000,002 bytes, over it.
    const wide = await failure({ code: 'return "€".repeat(2_000_000);' });
    expect(wide).toMatchObject({ code: "CODE_OUTPUT_INVALID", stepId: "calc" });
    expect(wide.message).toBe('step "calc": the returned value is 6000002 bytes of JSON, more than the limit of 5242880; return less data');
    expect(await codeExecutor({ code: 'return "€".repeat(1_700_000);' }, context().ctx)).toHaveLength(1_700_000); // 5,100,002 bytes fit

    // 30,000 "€" are 90,000 bytes: over the 64 KB log cap, cut at a character boundary.
    const { ctx, logs } = context();
    await codeExecutor({ code: 'console.log("€".repeat(30000)); console.log("after the cap"); return 1;' }, ctx);
    const loggedBytes = logs.reduce((sum, line) => sum + Buffer.byteLength(line.text), 0);
    expect(loggedBytes).toBeLessThanOrEqual(64 * 1024);
    expect(loggedBytes).toBeGreaterThan(64 * 1024 - 3);
    expect(logs).toHaveLength(1);
    expect(logs[0].text).toMatch(/^€+$/);
  });

  it("is stopped at once when the run is cancelled", async () => {
    const controller = new AbortController();
    const { ctx } = context();
    const running = codeExecutor({ code: "while (true) {}", timeoutMs: 30_000 }, { ...ctx, signal: controller.signal });
    setTimeout(() => controller.abort(new Error("cancelled")), 200);
    const started = Date.now();
    await expect(running).rejects.toThrow("cancelled");
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it("holds all sandboxes of the process within one memory budget: the rest wait their turn, or their cancel", async () => {
    const share = 64 + 2 + SANDBOX_OVERHEAD_MB; // memoryMb 64, its data (1 MB rounded up, in the host and the worker) and the worker
    process.env.ORCHESTRATOR_CODE_MEMORY_MB = String(2 * share + 20);
    try {
      let peak = 0;
      const watch = setInterval(() => (peak = Math.max(peak, sandboxMemory.inUse)), 5);
      const busy = { code: "const end = Date.now() + 300; while (Date.now() < end) {} return index;", memoryMb: 64, timeoutMs: 2000 };
      const outputs = await Promise.all([0, 1, 2, 3].map((index) => codeExecutor(busy, context({ index }).ctx)));
      clearInterval(watch);
      expect(outputs).toEqual([0, 1, 2, 3]);
      expect(peak).toBe(2 * share); // two at a time
      expect(sandboxMemory.inUse).toBe(0);

      const hog = codeExecutor({ ...busy, memoryMb: 2 * share }, context().ctx);
      const controller = new AbortController();
      const queued = codeExecutor(busy, { ...context().ctx, signal: controller.signal });
      controller.abort(new Error("cancelled while waiting"));
      await expect(queued).rejects.toThrow("cancelled while waiting");
      await hog;
    } finally {
      delete process.env.ORCHESTRATOR_CODE_MEMORY_MB;
    }
  });

  it("bounds the real memory of several sandboxes filling their memory at once by the process budget", async () => {
    const share = 32 + 2 + SANDBOX_OVERHEAD_MB;
    const budgetMb = 3 * share; // three sandboxes of memoryMb 32 at a time
    process.env.ORCHESTRATOR_CODE_MEMORY_MB = String(budgetMb);
    try {
      let peakInUse = 0;
      const watch = setInterval(() => (peakInUse = Math.max(peakInUse, sandboxMemory.inUse)), 2);
      const grown = watchResidentMemory();
      const bombs = [STRING_BOMB, OBJECT_BOMB, STRING_BOMB, OBJECT_BOMB, STRING_BOMB, OBJECT_BOMB];
      const errors = await Promise.all(bombs.map((code, index) => failure({ code, memoryMb: 32, timeoutMs: 20_000 }, { index })));
      const grewMb = grown();
      clearInterval(watch);
      expect(errors.map((e) => e.code)).toEqual(bombs.map(() => "CODE_MEMORY_LIMIT"));
      expect(peakInUse).toBe(budgetMb); // three really ran at once
      expect(grewMb).toBeLessThan(budgetMb);
    } finally {
      delete process.env.ORCHESTRATOR_CODE_MEMORY_MB;
    }
  });
});
