import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { changedTables, dbSnapshot } from "@/e2e/fixtures/db-snapshot";
import { baseDefinition, deepJsonText, describeValue, hostileDefinition, hostileJson, hostileKey, hostileValue, prototypeIsClean } from "@/e2e/fixtures/hostile-values";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { callbackToken } from "@/lib/engine/steps/wait-webhook";
import { WorkflowOrchestrator } from "@/lib/orchestrator";
import { getRuntime, type Runtime } from "@/lib/runtime";
import { handleCallbackRequest } from "@/lib/webhooks/callbacks";
import { enableHook, handleHookRequest, signRequest } from "@/lib/webhooks/hooks";
import { validateWorkflow, validateWorkflowInSlices } from "@/lib/workflow/validate";
import { saveWorkflowVersion } from "@/lib/workflows/repository";

/**
 * Property-based hostile input against the real layers below HTTP (real runner, real SQLite): the importer
 * (validateWorkflow, as checkWorkflow and `import` use it), the TS API (executeWorkflow with definitions and
 * input, cycles and non-JSON values included), run creation, the webhook trigger, callbacks, approvals and forks.
 * Every case ends in a result or a typed refusal (OrchestratorError with a code other than INTERNAL and a message
 * without a stack), never another throw; a refusal leaves every table as it was; Object.prototype stays clean.
 */
const dir = mkdtempSync(path.join(tmpdir(), "orchestrator-hostile-"));
const dbFile = path.join(dir, "hostile.db");
const orchestrator = new WorkflowOrchestrator();
let runtime: Runtime;
const saved = { ...process.env };

/** Cases each property ran, printed at the end (the closing note quotes them). */
const counts: Record<string, number> = {};
/** How the cases of each property ended: the refusal codes, or `accepted`. */
const outcomes: Record<string, Record<string, number>> = {};
let current = "";
const counted = (name: string) => () => {
  current = name;
  counts[name] = (counts[name] ?? 0) + 1;
};
const outcome = (what: string) => ((outcomes[current] ??= {})[what] = (outcomes[current]![what] ?? 0) + 1);

/** A typed refusal: an OrchestratorError that says what is wrong, not an internal error or a stack trace. */
function expectTypedRefusal(err: unknown, input: unknown) {
  if (!(err instanceof OrchestratorError)) throw new Error(`untyped throw for ${describeValue(input)}: ${(err as Error)?.stack ?? String(err)}`);
  expect(err.code, `for ${describeValue(input)}: ${err.message}`).not.toBe("INTERNAL");
  expect(err.message.trim().length).toBeGreaterThan(0);
  expect(err.message).not.toMatch(/\n\s+at .+:\d+:\d+/);
  if (err instanceof InvalidRunError) for (const issue of err.issues) expect(issue.message.trim().length).toBeGreaterThan(0);
}

/**
 * Runs `fn`; a refusal must be typed and leave the database as it was. Returns the result (undefined if refused);
 * `ended` names how a result ended, for the counts.
 */
async function refusedWithoutChange<T>(input: unknown, fn: () => Promise<T>, ended: (result: T) => string = () => "accepted"): Promise<T | undefined> {
  const before = dbSnapshot(dbFile);
  try {
    const result = await fn();
    outcome(ended(result));
    return result;
  } catch (err) {
    outcome(err instanceof OrchestratorError ? err.code : "untyped");
    expectTypedRefusal(err, input);
    expect(changedTables(before, dbSnapshot(dbFile)), `stored data changed for ${describeValue(input)}`).toEqual([]);
    return undefined;
  } finally {
    expect(prototypeIsClean()).toBe(true);
  }
}

const STRICT_INPUT = {
  type: "object",
  required: ["name"],
  properties: { name: { type: "string", maxLength: 50 } },
  additionalProperties: false,
};

let waitingRunId: string;
let succeededRunId: string;
let succeededCheckpointId: string;
let hook: { token: string; secret: string };

beforeAll(async () => {
  Object.assign(process.env, { DATABASE_URL: `file:${dbFile}`, ORCHESTRATOR_DATA_DIR: dir, LLM_GATEWAY_URL: "", LLM_API_KEY: "" });
  runtime = await getRuntime();
  const { db, userId } = runtime;
  const strict = validateWorkflow({ ...baseDefinition("strict"), input: STRICT_INPUT });
  await saveWorkflowVersion(db, userId, strict.definition!);
  hook = await enableHook(db, userId, "strict");
  const approval = validateWorkflow({
    id: "approve",
    name: "Approve",
    steps: [{ id: "ok", type: "approval", config: { message: "ok?", form: { type: "object", required: ["code"], properties: { code: { const: "x-7f3a" } } } } }],
  });
  await saveWorkflowVersion(db, userId, approval.definition!);
  waitingRunId = (await orchestrator.executeWorkflow(approval.definition!)).runId;
  const done = await orchestrator.executeWorkflow(baseDefinition("forkable"), { input: { name: "ada" } });
  expect(done.status).toBe("succeeded");
  succeededRunId = done.runId;
  succeededCheckpointId = (await orchestrator.listCheckpoints(succeededRunId))[0]!.checkpointId;
});

afterAll(async () => {
  for (const [name, n] of Object.entries(counts))
    console.log(`fast-check: ${n} cases — ${name}${outcomes[name] ? ` (${Object.entries(outcomes[name]).map(([what, k]) => `${what}: ${k}`).join(", ")})` : ""}`);
  await orchestrator.close();
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
  rmSync(dir, { recursive: true, force: true });
});

describe("hostile definitions and input, property-based", () => {
  it("the importer (validateWorkflow) answers every value with issues that have messages, and never throws", async () => {
    const seen = counted("importer: validateWorkflow / validateWorkflowInSlices");
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostileDefinition("imported", hostileValue), hostileValue), async (raw) => {
        seen();
        const whole = validateWorkflow(raw);
        outcome(whole.issues.length ? whole.issues[0]!.code : "valid");
        for (const result of [whole, await validateWorkflowInSlices(raw)]) {
          expect(Array.isArray(result.issues)).toBe(true);
          for (const issue of result.issues) expect(typeof issue.message === "string" && issue.message.trim().length > 0).toBe(true);
          if (!result.issues.length) expect(result.definition).toBeDefined();
        }
        expect(prototypeIsClean()).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("the TS API runs a definition or refuses it with InvalidRunError — cycles and non-JSON values included — and a refusal stores nothing", async () => {
    const seen = counted("TS API: executeWorkflow(definition)");
    await fc.assert(
      fc.asyncProperty(hostileDefinition("hostile-def", hostileValue), fc.boolean(), async (definition, save) => {
        seen();
        const result = await refusedWithoutChange(definition, () => orchestrator.executeWorkflow(definition, { input: { name: "ada" }, saveWorkflow: save }));
        if (result) expect(validateWorkflow(definition).issues).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it("the TS API refuses hostile run input to a workflow with an input schema (INVALID_INPUT naming the field), storing nothing", async () => {
    const seen = counted("TS API: executeWorkflow(input)");
    const definition = { ...baseDefinition("strict"), input: STRICT_INPUT };
    await fc.assert(
      fc.asyncProperty(hostileValue, async (input) => {
        seen();
        const result = await refusedWithoutChange(input, () => orchestrator.executeWorkflow(definition, { input, saveWorkflow: true }));
        if (result) expect(result.status).toBe("succeeded");
      }),
      { numRuns: 40 },
    );
  });

  it("the webhook trigger answers 4xx with a message to any body, token and signature, and starts a run only when both are right", async () => {
    let signedAt: number | undefined;
    let signedCases = 0;
    const seen = counted("webhook: handleHookRequest");
    const { db, sql, runner } = runtime;
    const body = fc.oneof(
      hostileJson.map((value) => JSON.stringify(value) ?? ""),
      fc.string({ unit: "binary", maxLength: 200 }),
      deepJsonText,
      fc.constantFrom("", "{", "null", "[]", '{"name":"ada"}', '{"__proto__":{"polluted":true},"name":"x"}', "\ufeff{}", "1e999"),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          workflowId: fc.oneof({ weight: 4, arbitrary: fc.constant("strict") }, { weight: 1, arbitrary: hostileKey }),
          credential: fc.oneof({ weight: 3, arbitrary: fc.constantFrom("token", "signature") }, { weight: 2, arbitrary: fc.constantFrom("wrong-token", "wrong-signature", "none") }),
          rawBody: body,
          wait: fc.boolean(),
        }),
        async ({ workflowId, credential, rawBody, wait }) => {
          seen();
          signedAt ??= Math.floor(Date.now() / 1000);
          const request = {
            workflowId,
            rawBody,
            wait,
            timeoutMs: 2000,
            ...(credential === "token" ? { token: hook.token } : credential === "wrong-token" ? { token: `${hook.token}x` } : {}),
            // A timestamp of its own per case (within the replay window), so no two cases share a signature.
            ...(credential === "signature" || credential === "wrong-signature" ? { timestamp: String(signedAt - ++signedCases) } : {}),
            ...(credential === "signature" ? { signature: signRequest(hook.secret, signedAt - signedCases, rawBody) } : credential === "wrong-signature" ? { signature: signRequest("nope", signedAt - signedCases, rawBody) } : {}),
          };
          const before = dbSnapshot(dbFile);
          const answer = await handleHookRequest({ db, sql, runner }, request);
          outcome(`HTTP ${answer.status}`);
          expect(answer.status, describeValue(answer.body)).toBeLessThan(500);
          if (answer.status >= 400) {
            expect(String((answer.body.error as { message?: string })?.message ?? "").length).toBeGreaterThan(0);
            expect(changedTables(before, dbSnapshot(dbFile))).toEqual([]);
          }
          const authentic = workflowId === "strict" && (credential === "token" || credential === "signature");
          if (!authentic) expect(answer.status).toBe(401);
          if (answer.status < 300) {
            expect(authentic).toBe(true);
            await runner.waitForRun(answer.body.runId as string);
          }
          expect(prototypeIsClean()).toBe(true);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("callbacks answer 404 to unknown URLs, and 400 or 409 to a signed URL of a step that does not wait for it, never resuming the run", async () => {
    const seen = counted("callback: handleCallbackRequest");
    const { runner } = runtime;
    const request = fc
      .record({ runId: fc.oneof(fc.constant(waitingRunId), hostileKey), stepId: fc.oneof(fc.constant("ok"), hostileKey), execution: fc.oneof(fc.integer({ min: 1, max: 3 }), fc.integer(), fc.constantFrom(NaN, 1e30, 1.5)), signed: fc.boolean(), token: hostileKey, rawBody: fc.oneof(hostileJson.map((v) => JSON.stringify(v) ?? ""), deepJsonText) })
      .map(({ signed, ...rest }) => ({ ...rest, token: signed ? callbackToken(rest.runId, rest.stepId, rest.execution, "another-wait") : rest.token, signed }));
    await fc.assert(
      fc.asyncProperty(request, async ({ signed, ...call }) => {
        seen();
        const answer = await refusedWithoutChange(call, () => handleCallbackRequest({ runner }, call), (a) => `HTTP ${a.status}`);
        if (signed && Number.isSafeInteger(call.execution) && call.execution >= 1) expect([400, 409], describeValue(answer?.body)).toContain(answer?.status);
        else expect(answer?.status, describeValue(answer?.body)).toBe(404);
      }),
      { numRuns: 60 },
    );
  });

  it("an approval refuses hostile form data and comments (typed, nothing stored) and the run keeps waiting", async () => {
    const seen = counted("approval: decideApproval");
    const { runner, userId } = runtime;
    await fc.assert(
      fc.asyncProperty(hostileValue, fc.option(hostileValue), async (data, comment) => {
        seen();
        const decision = { approved: true, data, comment: comment as string | undefined, decidedBy: "hostile" };
        const result = await refusedWithoutChange(decision, () => runner.decideApproval(waitingRunId, userId, decision));
        expect(result).toBeUndefined();
      }),
      { numRuns: 40 },
    );
    expect((await runtime.db.run.findUniqueOrThrow({ where: { id: waitingRunId } })).status).toBe("waiting");
  });

  it("a fork refuses hostile edits (typed, nothing stored) or starts a fork that runs", async () => {
    const seen = counted("fork: forkRun(set)");
    const { runner, userId } = runtime;
    const edits = fc.dictionary(
      fc.oneof(fc.constantFrom("steps.greet", "steps.greet.__proto__", "vars.greeting", "vars.__proto__", "input", "input.name", "input.constructor.prototype"), hostileKey),
      hostileValue,
      { minKeys: 1, maxKeys: 3 },
    );
    await fc.assert(
      fc.asyncProperty(edits, async (set) => {
        seen();
        const fork = await refusedWithoutChange(set, () => runner.forkRun(succeededRunId, userId, { checkpointId: succeededCheckpointId, set }));
        if (fork) expect((await runner.waitForRun(fork.runId)).status).toMatch(/succeeded|failed/);
      }),
      { numRuns: 40 },
    );
  });
});
