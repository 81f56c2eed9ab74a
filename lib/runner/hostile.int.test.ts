import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { writeFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { expressionWorkers } from "@/lib/engine/expressions/pool";
import type { Runner } from "./runner";

/**
 * Expressions that killed or froze the server run through the real runner while an HTTP server in the same
 * process is asked every 20 ms: each run fails with EXPRESSION_LIMIT naming the step and the field, the HTTP
 * server answers during and after every one, and the process goes on.
 */
const HOSTILE: Array<{ name: string; template: string; timeoutMs?: number; limit: RegExp }> = [
  { name: "a 500-million-character $pad", template: '{{ $length($pad("", 500000000)) }}', limit: /larger than \d+ bytes/ },
  { name: "an endless loop, step time limit 2000 ms", template: "{{ ($f := function($x){ $f($x) }; $f(1)) }}", timeoutMs: 2000, limit: /ran longer than 1000 ms/ },
  { name: "endless recursion", template: "{{ ($f := function($x){ 1 + $f($x) }; $f(1)) }}", limit: /deeper than 1000 levels/ },
  { name: "a range of ten million", template: '{{ $join([1..10000000].$string($), ",") }}', limit: /more than 1000000 items/ },
];

describe("hostile expressions in a running server process", () => {
  let database: ReturnType<typeof sqliteTestDatabase>;
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let userId: string;
  let runner: Runner;
  let server: Server;
  let url: string;

  beforeAll(async () => {
    database = sqliteTestDatabase();
    harness = await openTestRunner(database);
    ({ userId, runner } = harness);
    server = createServer((_req, res) => res.end("ok"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    // Warm up (first run, first request) so that what is measured is the hostile run alone.
    await fetch(url);
    await runner.runToCompletion({ definition: { id: "warm", name: "warm", steps: [{ id: "t", type: "transform", config: { output: "{{ 1 }}" } }] }, ownerId: userId, source: "api" });
  });

  afterAll(async () => {
    server.close();
    await expressionWorkers().close();
    await harness.close();
  });

  /** Asks the HTTP server every 20 ms until stopped; returns the slowest answer. */
  function probe() {
    let slowest = 0;
    let answered = 0;
    let running = true;
    const done = (async () => {
      while (running) {
        const started = performance.now();
        expect(await (await fetch(url)).text()).toBe("ok");
        slowest = Math.max(slowest, performance.now() - started);
        answered++;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    return async () => {
      running = false;
      await done;
      return { slowest, answered };
    };
  }

  it.each(HOSTILE)("$name: the run fails with EXPRESSION_LIMIT and the server answers throughout", async ({ template, timeoutMs, limit }) => {
    const stop = probe();
    const started = performance.now();
    const result = await runner.runToCompletion({
      definition: { id: "hostile", name: "hostile", steps: [{ id: "evil", type: "transform", ...(timeoutMs ? { timeoutMs } : {}), config: { output: { value: template } } }] },
      ownerId: userId,
      source: "api",
    });
    const elapsed = performance.now() - started;
    const { slowest, answered } = await stop();
    expect(result.status).toBe("failed");
    expect(result.error).toMatchObject({ code: "EXPRESSION_LIMIT", stepId: "evil" });
    expect(result.error?.message).toMatch(/^step "evil" field "config\.output\.value": /);
    expect(result.error?.message).toMatch(limit);
    expect(elapsed).toBeLessThan(10_000);
    expect(answered).toBeGreaterThan(0);
    // Never held for long: the slowest answer is a fraction of the run (the whole run, were the loop blocked).
    expect(slowest).toBeLessThan(Math.max(elapsed / 2, 250));
    // And after it: the server answers, and a normal run works.
    expect(await (await fetch(url)).text()).toBe("ok");
    const ok = await runner.runToCompletion({ definition: { id: "fine", name: "fine", steps: [{ id: "t", type: "transform", config: { output: "{{ 1 + 1 }}" } }] }, ownerId: userId, source: "api" });
    expect(ok).toMatchObject({ status: "succeeded", outputs: { t: 2 } });
  });

  it("the CLI returns from an endless loop with EXPRESSION_LIMIT instead of running forever", async () => {
    const dir = path.dirname(new URL(database.url).pathname);
    const file = path.join(dir, "loop.json");
    writeFileSync(file, JSON.stringify({ id: "loop", name: "loop", steps: [{ id: "evil", type: "transform", timeoutMs: 2000, config: { output: HOSTILE[1].template } }] }));
    const child = spawn(process.execPath, [path.resolve("bin/orchestrator.mjs"), "run", file, "--json"], {
      env: { ...process.env, DATABASE_URL: `file:${path.join(dir, "cli.db")}`, LOG_LEVEL: "silent" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    expect(code).toBe(1);
    expect(JSON.parse(stdout)).toMatchObject({ status: "failed", error: { code: "EXPRESSION_LIMIT", stepId: "evil" } });
  }, 60_000);
});
