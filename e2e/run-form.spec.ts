import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { expect, test } from "@playwright/test";
import { EditorPage } from "./pages/editor";
import { GATEWAY } from "./fixtures/server-process";

/**
 * The run form (nested fields, lists, choices, checkboxes, errors by field, the JSON view), input for workflows
 * without a schema, fork accounting on the run page and in the runs list, and CLI runs linked to the workflow
 * they saved. Workflows are put in place with the real CLI (`import`, `run`) on the suite's data directory.
 */
const dataDir = process.env.E2E_DATA_DIR!;
const cliEnv = { ...process.env, ORCHESTRATOR_DATA_DIR: dataDir, DATABASE_URL: "", LLM_GATEWAY_URL: `${GATEWAY}/v1`, LLM_API_KEY: "e2e", LOG_LEVEL: "warn" };

async function cli(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [path.resolve("bin/orchestrator.mjs"), ...args], { env: cliEnv, cwd: dataDir });
  return stdout;
}

function definitionFile(definition: { id: string; [key: string]: unknown }) {
  const file = path.join(dataDir, `${definition.id}.json`);
  writeFileSync(file, JSON.stringify(definition));
  return file;
}

const tag = () => Date.now().toString(36);

test("the run form fills nested objects, lists, choices and checkboxes, checks them like the server and runs with them", async ({ page }) => {
  const id = `form-${tag()}`;
  await cli(
    "import",
    definitionFile({
      id,
      name: "Ticket form",
      input: {
        type: "object",
        required: ["topic", "tone", "address"],
        properties: {
          topic: { type: "string", title: "Topic", description: "what the ticket is about" },
          tone: { enum: ["calm", "bold", "dry"] },
          urgent: { type: "boolean" },
          count: { type: "integer", default: 2 },
          address: { type: "object", required: ["city"], properties: { city: { type: "string" }, zip: { type: "string" } } },
          tags: { type: "array", items: { type: "string" } },
          contacts: { type: "array", items: { type: "object", required: ["name"], properties: { name: { type: "string" }, age: { type: "number" } } } },
        },
      },
      steps: [{ id: "echo", type: "transform", config: { output: "{{ input }}" } }],
    }),
  );
  await page.goto(`/workflows/${id}`);
  await page.getByTestId("run-button").click();
  const dialog = page.getByTestId("run-dialog");
  await expect(dialog).toContainText("Topic");
  await expect(dialog).toContainText("what the ticket is about");
  await expect(page.getByTestId("input-count")).toHaveValue("2"); // the default

  // Sent empty: every problem next to its field, nothing started.
  await page.getByTestId("run-submit").click();
  await expect(page.getByTestId("input-topic-error")).toHaveText("is required");
  await expect(page.getByTestId("input-tone-error")).toHaveText("is required");
  await expect(page.getByTestId("input-address.city-error")).toHaveText("is required");
  await expect(page.getByTestId("run-status")).toHaveCount(0);
  // A stale error goes as soon as its field changes; the others stay.
  await page.getByTestId("input-topic").fill("printer jam");
  await expect(page.getByTestId("input-topic-error")).toHaveCount(0);
  await expect(page.getByTestId("input-tone-error")).toBeVisible();

  // A choice that is not one of the schema's (typed in the JSON view): the error lists the choices.
  await page.getByTestId("input-mode-toggle").click();
  const json = page.getByTestId("input-json");
  await expect(json).toHaveValue(/"topic": "printer jam"/);
  const typed = JSON.parse(await json.inputValue());
  await json.fill(JSON.stringify({ ...typed, tone: "loud" }, null, 2));
  await page.getByTestId("input-mode-toggle").click();
  await page.getByTestId("run-submit").click();
  await expect(page.getByTestId("input-tone-error")).toHaveText("must be one of: calm, bold, dry");
  await page.getByTestId("input-tone").selectOption("bold");
  await expect(page.getByTestId("input-tone-error")).toHaveCount(0);

  await page.getByTestId("input-urgent").check();
  await page.getByTestId("input-address.city").fill("Lyon");
  await expect(page.getByTestId("input-address.city-error")).toHaveCount(0);
  await page.getByTestId("input-tags-add").click();
  await page.getByTestId("input-tags-add").click();
  await page.getByTestId("input-tags-add").click();
  await page.getByTestId("input-tags.0").fill("paper");
  await page.getByTestId("input-tags.1").fill("drop");
  await page.getByTestId("input-tags.2").fill("tray");
  await page.getByTestId("input-tags.1-remove").click();
  await expect(page.getByTestId("input-tags.1")).toHaveValue("tray");
  await page.getByTestId("input-contacts-add").click();
  await page.getByTestId("input-contacts.0.name").fill("Ann");
  await page.getByTestId("input-contacts.0.age").fill("41");

  // The JSON view edits the same value, and the form follows it back.
  await page.getByTestId("input-mode-toggle").click();
  const shown = JSON.parse(await json.inputValue());
  expect(shown).toEqual({ topic: "printer jam", tone: "bold", urgent: true, count: 2, address: { city: "Lyon" }, tags: ["paper", "tray"], contacts: [{ name: "Ann", age: 41 }] });
  await json.fill(JSON.stringify({ ...shown, address: { city: "Lyon", zip: "69001" } }, null, 2));
  await page.getByTestId("input-mode-toggle").click();
  await expect(page.getByTestId("input-address.zip")).toHaveValue("69001");
  await expect(page.getByTestId("input-urgent")).toBeChecked();

  await page.getByTestId("run-submit").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await page.getByTestId("open-run").click();
  const input = JSON.parse((await page.getByTestId("run-input").textContent())!);
  expect(input).toEqual({ ...shown, address: { city: "Lyon", zip: "69001" } });
});

test("a workflow without an input schema gets JSON input through 'with input…'; plain Run still starts at once", async ({ page }) => {
  const editor = new EditorPage(page);
  const id = `free-${tag()}`;
  await cli("import", definitionFile({ id, name: "Free input", steps: [{ id: "greet", type: "transform", config: { output: "{{ input.greeting ? input.greeting : 'none' }}" } }] }));
  await page.goto(`/workflows/${id}`);

  await page.getByTestId("run-with-input").click();
  await expect(page.getByTestId("input-mode-toggle")).toHaveCount(0); // nothing to draw a form from
  await page.getByTestId("input-json").fill('{ "greeting": "bonjour" }');
  await page.getByTestId("run-submit").click();
  await expect(page.getByTestId("run-dialog")).toHaveCount(0);
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(editor.status("greet")).toHaveAttribute("data-status", "succeeded");
  await page.getByTestId("open-run").click();
  await expect(page.getByTestId("run-input")).toContainText('"greeting": "bonjour"');
  await expect(page.getByTestId("step-output-greet")).toContainText("bonjour");

  await page.goto(`/workflows/${id}`);
  await page.getByTestId("run-button").click();
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  await expect(page.getByTestId("run-dialog")).toHaveCount(0);
});

/** Two model calls: a fork after the first makes only the second. */
const twoCalls = (id: string) => ({
  id,
  name: `Two calls ${id}`,
  steps: [
    { id: "outline", type: "llm", config: { model: "test-model", prompt: `Outline a long story about owls, with many words, ${id}` } },
    { id: "write", type: "llm", config: { model: "test-model", prompt: "Write: {{ steps.outline.text }}" } },
  ],
});

test("a CLI run's 'open workflow' opens the workflow it saved, with its steps", async ({ page }) => {
  const editor = new EditorPage(page);
  const id = `cli-${tag()}`;
  const { runId, status } = JSON.parse(await cli("run", definitionFile(twoCalls(id)), "--json"));
  expect(status).toBe("succeeded");
  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded");
  await page.getByRole("link", { name: "open workflow" }).click();
  await expect(page.getByTestId("workflow-title")).toHaveText(`Two calls ${id}`);
  await expect(page.getByTestId("saved-version")).toContainText("v1");
  await expect(editor.node("outline")).toBeVisible();
  await expect(editor.node("write")).toBeVisible();
});

test("a fork counts only its own calls: inherited steps say where they come from, and the runs list marks the fork", async ({ page }) => {
  const id = `fork-${tag()}`;
  const { runId: parentId } = JSON.parse(await cli("run", definitionFile(twoCalls(id)), "--json"));
  await page.goto(`/runs/${parentId}`);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded");
  const parentTokens = Number(await page.getByTestId("run-tokens").textContent());

  await page.locator('[data-testid="checkpoint-row"][data-changed-steps="outline"]').click();
  await expect(page.getByTestId("checkpoint-detail")).toContainText("write");
  await page.getByTestId("fork-run").click();
  await expect(page.getByTestId("run-parent")).toContainText(parentId);
  await expect(page.getByTestId("run-page-status")).toHaveAttribute("data-status", "succeeded", { timeout: 15_000 });
  const forkId = page.url().split("/runs/")[1];

  await expect(page.getByTestId("inherited-outline")).toContainText(`inherited from ${parentId}`);
  await expect(page.getByTestId("inherited-write")).toHaveCount(0);
  const [prompt, completion] = ((await page.getByTestId("step-usage-write").textContent())!.match(/(\d+)\+(\d+) tokens/) ?? []).slice(1).map(Number);
  await expect(page.getByTestId("run-tokens")).toHaveText(String(prompt + completion));
  expect(prompt + completion).toBeLessThan(parentTokens);

  await page.goto(`/runs?workflow=${id}`);
  await expect(page.getByTestId(`run-row-${forkId}`).getByTestId("run-fork-mark")).toContainText(`fork of ${parentId}`);
  await expect(page.getByTestId(`run-row-${parentId}`).getByTestId("run-fork-mark")).toHaveCount(0);
});
