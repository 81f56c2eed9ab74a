import { afterEach, describe, expect, it } from "vitest";
import { StepError } from "../errors";
import { codeExecutor, sandboxMemory } from "./code";
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

afterEach(() => {
  delete (Object.prototype as Record<string, unknown>).polluted;
});

describe("code step", () => {
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

  it("stops a memory bomb at its memory limit", async () => {
    const error = await failure({ code: "const a = []; while (true) a.push({ x: a.length, y: [1, 2, 3] });", memoryMb: 16, timeoutMs: 10_000 });
    expect(error).toMatchObject({ code: "CODE_MEMORY" });
    expect(error.message).toMatch(/memory limit of 16 MB/);
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
    process.env.ORCHESTRATOR_CODE_MEMORY_MB = "150";
    try {
      let peak = 0;
      const watch = setInterval(() => (peak = Math.max(peak, sandboxMemory.inUse)), 5);
      const busy = { code: "const end = Date.now() + 300; while (Date.now() < end) {} return index;", memoryMb: 64, timeoutMs: 2000 };
      const outputs = await Promise.all([0, 1, 2, 3].map((index) => codeExecutor(busy, context({ index }).ctx)));
      clearInterval(watch);
      expect(outputs).toEqual([0, 1, 2, 3]);
      expect(peak).toBe(128); // two at a time
      expect(sandboxMemory.inUse).toBe(0);

      const hog = codeExecutor({ ...busy, memoryMb: 140 }, context().ctx);
      const controller = new AbortController();
      const queued = codeExecutor(busy, { ...context().ctx, signal: controller.signal });
      controller.abort(new Error("cancelled while waiting"));
      await expect(queued).rejects.toThrow("cancelled while waiting");
      await hog;
    } finally {
      delete process.env.ORCHESTRATOR_CODE_MEMORY_MB;
    }
  });
});
