import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { validateWorkflow } from "@/lib/workflow/validate";

/** Every example in this folder is a valid workflow definition (the README points users at them). */
const dir = path.resolve("examples");
const files = readdirSync(dir).filter((f) => f.endsWith(".json"));

describe("examples", () => {
  it("has examples", () => expect(files.length).toBeGreaterThanOrEqual(5));
  it.each(files)("%s is valid", (file) => {
    expect(validateWorkflow(JSON.parse(readFileSync(path.join(dir, file), "utf8"))).issues).toEqual([]);
  });
});
