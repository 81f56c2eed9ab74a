import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestSql } from "@/e2e/fixtures/databases";
import { linearChain } from "@/e2e/fixtures/large-workflows";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import type { SqlConnection } from "@/lib/db/sql";
import { compileWorkflow } from "./compile";

/**
 * Issue 9, "workflows of any size": compiling cost steps² (a LangGraph node and a state channel per step, and every
 * node got its own copy of the channel list: 2.7 s and 0.4 GB at 2,000 steps, out of memory at 10,000), and a
 * superstep's cost grew with the workflow (LangGraph's work over every channel and node, ~6 ms per step at 500
 * steps, ~12 ms at 1,000). Timings are compared with a baseline measured in the same test (the machine is shared).
 */

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function compileMs(steps: number) {
  const definition = linearChain(steps);
  const started = performance.now();
  compileWorkflow(definition, { runId: "scale", settings: {} });
  return performance.now() - started;
}

let close: () => Promise<void>;
let sql: SqlConnection;
beforeAll(async () => {
  ({ sql, close } = await openTestSql());
});
afterAll(() => close());

describe("the compiled graph at scale", () => {
  it("compiles 10,000 steps in about ten times the time of 1,000 (linear, not quadratic)", () => {
    compileMs(1_000); // warm up
    const small: number[] = [];
    const large: number[] = [];
    // Interleaved, so that load on the machine hits both sizes alike.
    for (let round = 0; round < 5; round++) {
      small.push(compileMs(1_000));
      large.push(compileMs(10_000));
    }
    const ratio = median(large) / median(small);
    // Quadratic growth gives ~100; linear ~10 (the list-building at 10,000 steps costs a little more per step).
    console.log(`compile: 1,000 steps ${median(small).toFixed(1)} ms, 10,000 steps ${median(large).toFixed(1)} ms, ratio ${ratio.toFixed(1)}`);
    expect(ratio).toBeLessThan(30);
  });

  it("costs the same per step in a 2,000-step run as in a 200-step run, checkpointed in the database", async () => {
    const msPerStep = async (steps: number, thread: string) => {
      const compiled = compileWorkflow(linearChain(steps), { runId: thread, settings: {} }, new SqlCheckpointSaver(sql));
      const started = performance.now();
      const final = await compiled.graph.invoke({ input: { n: 1 }, vars: {} }, { configurable: { thread_id: thread }, recursionLimit: compiled.recursionLimit });
      const elapsed = performance.now() - started;
      expect(compiled.outputsOf(final)[`s${steps - 1}`]).toBe(steps);
      return elapsed / steps;
    };
    await msPerStep(50, "warm-up");
    const short = await msPerStep(200, "short");
    const long = await msPerStep(2_000, "long");
    // Before: a step of the 2,000-step run cost several times one of the 200-step run.
    console.log(`per step: 200-step run ${short.toFixed(2)} ms, 2,000-step run ${long.toFixed(2)} ms, ratio ${(long / short).toFixed(2)}`);
    expect(long / short).toBeLessThan(2);
  }, 120_000);
});
