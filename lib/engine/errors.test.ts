import { describe, expect, it, vi } from "vitest";
import { InvalidRunError, OrchestratorError, StepError } from "./errors";

describe("typed errors", () => {
  it("are recognised across separately loaded copies of the module (Next bundle vs server.ts)", async () => {
    vi.resetModules();
    const copy = "./errors?copy"; // a query string makes the loader evaluate the module a second time
    const other = (await import(/* @vite-ignore */ copy)) as typeof import("./errors");
    expect(other.OrchestratorError).not.toBe(OrchestratorError);
    const thrownElsewhere = new other.OrchestratorError("NOT_FOUND", "run not found");
    expect(thrownElsewhere instanceof OrchestratorError).toBe(true);
    expect(thrownElsewhere instanceof StepError).toBe(false);
    const step = new other.StepError("STEP_FAILED", "boom", { retryable: true });
    expect(step instanceof OrchestratorError).toBe(true);
    expect(step instanceof StepError).toBe(true);
    expect(step instanceof InvalidRunError).toBe(false);
    const invalid = new other.InvalidRunError("INVALID_INPUT", [{ code: "INPUT_INVALID", message: "input.topic: is required", field: "input.topic" }]);
    expect(invalid instanceof InvalidRunError).toBe(true);
    expect(invalid.issues).toHaveLength(1);
    expect(new Error("plain") instanceof OrchestratorError).toBe(false);
    expect((null as unknown as object) instanceof OrchestratorError).toBe(false);
  });
});
