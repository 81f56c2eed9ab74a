import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { stepKindList } from "./step-kinds";
import { validateWorkflow } from "./validate";

/**
 * New steps and the examples name no model: an empty model means the default model (Settings or
 * LLM_DEFAULT_MODEL), so a workflow runs on whatever gateway is configured and is priced under the model used.
 */
describe("defaults name no model", () => {
  it("no kind's default config, placeholder or help names a model", () => {
    for (const kind of stepKindList) {
      expect(kind.defaultConfig, kind.kind).not.toHaveProperty("model");
      expect(JSON.stringify(kind.fields), kind.kind).not.toMatch(/"model":|gpt-|claude-|llama/);
    }
  });

  it("llm and kilo steps without a model are valid", () => {
    const steps = [
      { id: "ask", type: "llm", config: { prompt: "hi" } },
      { id: "agent", type: "kilo", config: { prompt: "write a README" } },
    ];
    expect(validateWorkflow({ id: "w", name: "w", steps }).issues).toEqual([]);
  });

  it("no example names a model", () => {
    const dir = path.resolve("examples");
    for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) expect(readFileSync(path.join(dir, file), "utf8"), file).not.toMatch(/"model"/);
  });
});
