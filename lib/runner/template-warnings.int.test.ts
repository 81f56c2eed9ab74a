import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { getRunDetail } from "./queries";

/**
 * A placeholder that evaluates to nothing renders empty; the real runner says so in the step's log (level warn),
 * naming the expression and the field, a few lines per step at most, and nothing when every value is there.
 */
describe("warnings for placeholders that evaluate to nothing", () => {
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  beforeAll(async () => {
    harness = await openTestRunner(sqliteTestDatabase());
  });
  afterAll(async () => harness.close());

  const runAndLogs = async (definition: unknown, input?: unknown) => {
    const result = await harness.runner.runToCompletion({ definition, input, ownerId: harness.userId, source: "api" });
    const detail = await getRunDetail(harness.db, harness.userId, result.runId);
    const logsOf = (stepId: string) => detail?.steps.find((s) => s.stepId === stepId)?.logs ?? [];
    return { result, logsOf };
  };

  it("names the expression and the field of each placeholder that rendered empty, in config and assign", async () => {
    const { result, logsOf } = await runAndLogs(
      {
        id: "missing",
        name: "Missing values",
        vars: { label: "" },
        steps: [
          { id: "first", type: "transform", config: { output: { text: "hello" } } },
          {
            id: "shape",
            type: "transform",
            config: { output: { topic: "About {{ input.nosuch }}.", text: "{{ steps.first.txt }}", fine: "{{ input.topic }} {{ steps.first.text }}" } },
            assign: { label: "{{ output.title }}" },
          },
        ],
      },
      { topic: "owls" },
    );
    expect(result).toMatchObject({ status: "succeeded", outputs: { shape: { topic: "About .", fine: "owls hello" } } });
    expect(logsOf("first")).toEqual([]);
    expect(logsOf("shape")).toEqual([
      { level: "warn", text: "{{ input.nosuch }} in config.output.topic evaluated to nothing (no such field or output?); it was rendered empty" },
      { level: "warn", text: "{{ steps.first.txt }} in config.output.text evaluated to nothing (no such field or output?); it was rendered empty" },
      { level: "warn", text: "{{ output.title }} in assign.label evaluated to nothing (no such field or output?); it was rendered empty" },
    ]);
  });

  it("keeps it to a few lines per step however many placeholders are missing", async () => {
    const output = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, `{{ input.f${i} }}`]));
    const { result, logsOf } = await runAndLogs({ id: "many", name: "Many", steps: [{ id: "wide", type: "transform", config: { output } }] }, {});
    expect(result.status).toBe("succeeded");
    const logs = logsOf("wide");
    expect(logs).toHaveLength(4);
    expect(logs.map((l) => l.level)).toEqual(["warn", "warn", "warn", "warn"]);
    expect(logs[0].text).toMatch(/^\{\{ input\.f0 \}\} in config\.output\.k0 evaluated to nothing/);
    expect(logs[3].text).toBe("1997 more placeholders evaluated to nothing");
  });

  it("names map item steps by their record id", async () => {
    const { result, logsOf } = await runAndLogs({
      id: "items",
      name: "Items",
      steps: [{ id: "each", type: "map", config: { items: [{ a: 1 }], steps: [{ id: "pick", type: "transform", config: { output: "{{ item.b }}" } }] } }],
    });
    expect(result.status).toBe("succeeded");
    expect(logsOf("each[0].pick")).toEqual([{ level: "warn", text: expect.stringContaining("{{ item.b }} in config.output evaluated to nothing") }]);
  });
});
