import { existsSync, readFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, testDatabases, type TestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway, type LlmGateway } from "@/e2e/fixtures/llm-gateway";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import type { TokenEvent } from "@/lib/runner/event-types";
import { sqlitePath } from "@/lib/db/url";
import { deleteSecret, listSecrets, MAX_SECRET_VALUE_BYTES, MAX_SECRETS_PER_USER, setSecret } from "@/lib/user-secrets";
import { getRunDetail } from "./queries";
import type { Runner } from "./runner";

/**
 * Secrets end to end on the real runner and database: a step's request carries the value, nothing stored about the
 * run does (step records, events, the run row, checkpoints, audit entries, streamed text), a missing secret fails
 * the step with SECRET_NOT_FOUND, values are encrypted at rest and names and values are bounded.
 */
const databases = await testDatabases();

/** Contains a space, so the test gateway streams it in two tokens. */
const VALUE = `sk-live ${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`;
const OTHER_VALUE = `other-user-${Math.random().toString(36).slice(2)}`;

interface Call {
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
}

describe.each(databases)("secrets on %s", (_name, makeDatabase, available) => {
  let database: TestDatabase;
  let harness: Awaited<ReturnType<typeof openTestRunner>>;
  let db: Db;
  let sql: SqlConnection;
  let userId: string;
  let runner: Runner;
  let server: Server;
  let base: string;
  let gateway: LlmGateway;
  const calls: Call[] = [];
  const tokens: TokenEvent[] = [];

  beforeAll(async () => {
    if (!available) return;
    gateway = await startLlmGateway();
    process.env.LLM_GATEWAY_URL = gateway.url;
    process.env.LLM_API_KEY = "test";
    process.env.ORCHESTRATOR_HTTP_ALLOW = "127.0.0.1";
    database = makeDatabase();
    harness = await openTestRunner(database, { publisher: { publish() {}, publishToken: (e) => tokens.push(e) } });
    ({ db, sql, userId, runner } = harness);
    server = createServer((req, res) => {
      const url = new URL(req.url ?? "/", "http://x");
      calls.push({ path: url.pathname, query: Object.fromEntries(url.searchParams), headers: req.headers });
      // /echo answers with what it received (an API that echoes the credential back); /ok does not.
      const body = url.pathname === "/echo" ? { auth: req.headers.authorization ?? null, query: Object.fromEntries(url.searchParams) } : { ok: true };
      if (url.pathname === "/fail") return res.writeHead(400, { "content-type": "text/plain" }).end(`bad key ${req.headers.authorization}`);
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    if (!available) return;
    delete process.env.ORCHESTRATOR_HTTP_ALLOW;
    delete process.env.LLM_GATEWAY_URL;
    delete process.env.LLM_API_KEY;
    await new Promise((resolve) => server.close(resolve));
    await harness.close();
    await gateway.close();
  });

  const run = (definition: unknown, ownerId = userId) => runner.runToCompletion({ definition, input: {}, ownerId, source: "api" });

  /**
   * Every text and blob column of the tables a run, its checkpoints and the audit log write to; `definition` (the
   * workflow as written, which holds templates and whatever was typed into it by hand) left out when asked.
   */
  async function storedText(options: { withDefinitions?: boolean } = { withDefinitions: true }): Promise<string> {
    const tables = ["Run", "StepRun", "RunEvent", "StreamChunk", "AuditLog", "Checkpoint", "CheckpointBlob", "CheckpointWrite", "Setting", "Secret"];
    const parts: string[] = [];
    for (const table of tables)
      for (const row of await sql.query<Record<string, unknown>>(`SELECT * FROM "${table}"`))
        for (const [column, value] of Object.entries(row)) {
          if (column === "definition" && !options.withDefinitions) continue;
          if (value instanceof Uint8Array) parts.push(Buffer.from(value).toString("utf8"), Buffer.from(value).toString("latin1"));
          else if (value !== null && value !== undefined) parts.push(String(value));
        }
    return parts.join("\n");
  }

  /** The SQLite files as bytes (the database and its write-ahead log): nothing may hold the value, not even a free page. */
  function sqliteBytes(): Buffer {
    const file = sqlitePath(database.url);
    return Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
  }

  it.skipIf(!available)("sends the value in the request and stores only [secret:NAME] wherever the run is recorded", async () => {
    await setSecret(db, userId, "API_KEY", VALUE);
    calls.length = 0;
    tokens.length = 0;
    const result = await run({
      id: "with-secret",
      name: "With a secret",
      steps: [
        {
          id: "call",
          type: "http",
          config: { url: `${base}/echo?api_key={{ secrets.API_KEY }}&q=owls`, headers: { Authorization: "Bearer {{ secrets.API_KEY }}", "X-Trace": "t-1" } },
        },
        { id: "shape", type: "transform", config: { output: { echoed: "{{ steps.call.body.auth }}", direct: "key={{ secrets.API_KEY }}" } } },
        // Code gets outputs as data, never the secrets: what it can see is redacted.
        { id: "peek", type: "code", config: { code: "return { seen: JSON.stringify([input, steps, vars]), globals: typeof secrets };" } },
        { id: "ask", type: "llm", config: { model: "test-model", prompt: "say {{ secrets.API_KEY }} twice" } },
        // A failing request whose error message quotes the credential.
        { id: "reject", type: "http", config: { url: `${base}/fail`, headers: { Authorization: "{{ secrets.API_KEY }}" } }, onError: "continue" },
      ],
      edges: [
        { from: "call", to: "shape" },
        { from: "shape", to: "peek" },
        { from: "peek", to: "ask" },
        { from: "ask", to: "reject" },
      ],
    });
    expect(result.status).toBe("succeeded");

    // The loopback server received the real value.
    const echo = calls.find((c) => c.path === "/echo")!;
    expect(echo.headers.authorization).toBe(`Bearer ${VALUE}`);
    expect(echo.query).toEqual({ api_key: VALUE, q: "owls" });
    expect(calls.find((c) => c.path === "/fail")!.headers.authorization).toBe(VALUE);
    expect(gateway.requests.at(-1)!.messages.at(-1)!.content).toBe(`say ${VALUE} twice`);

    // What the run produced names the secret instead.
    expect(result.outputs.call).toMatchObject({ body: { auth: "Bearer [secret:API_KEY]", query: { api_key: "[secret:API_KEY]", q: "owls" } } });
    expect(result.outputs.shape).toEqual({ echoed: "Bearer [secret:API_KEY]", direct: "key=[secret:API_KEY]" });
    expect((result.outputs.peek as { globals: string }).globals).toBe("undefined");
    expect((result.outputs.peek as { seen: string }).seen).toContain("[secret:API_KEY]");
    expect(result.outputs.ask).toMatchObject({ text: "Echo: say [secret:API_KEY] twice" });
    expect(result.outputs.reject).toEqual({ error: { code: "HTTP_ERROR", message: expect.stringContaining("bad key [secret:API_KEY]") } });

    const detail = (await getRunDetail(db, userId, result.runId))!;
    const step = (id: string) => detail.steps.find((s) => s.stepId === id)!;
    expect(step("call").input).toMatchObject({
      url: `${base}/echo?api_key=[secret:API_KEY]&q=owls`,
      headers: { Authorization: "Bearer [secret:API_KEY]", "X-Trace": "t-1" },
    });
    // The http step's log line hides credentials in the URL before the secrets are looked for.
    expect(step("call").logs[0]).toEqual({ level: "info", text: `GET ${base}/echo?api_key=[redacted]&q=owls` });
    expect(step("ask").input).toMatchObject({ prompt: "say [secret:API_KEY] twice" });

    // The streamed text was redacted too, although the value came in two tokens.
    const streamed = tokens.filter((t) => t.runId === result.runId && t.stepId === "ask").map((t) => t.text);
    expect(streamed.length).toBeGreaterThan(2);
    expect(streamed.join("")).toBe("Echo: say [secret:API_KEY] twice");

    // Nowhere in the database, in any form.
    const stored = await storedText();
    expect(stored).toContain("[secret:API_KEY]");
    for (const form of [VALUE, encodeURIComponent(VALUE), VALUE.split(" ")[1]]) expect(stored.includes(form), form).toBe(false);
    if (database.kind === "sqlite") {
      const bytes = sqliteBytes();
      expect(bytes.includes(Buffer.from("[secret:API_KEY]"))).toBe(true);
      expect(bytes.includes(Buffer.from(VALUE.split(" ")[1]))).toBe(false);
    }
  });

  it.skipIf(!available)("redacts credentials written into an http step by hand in what is stored and shown; the request carries them", async () => {
    calls.length = 0;
    const result = await run({
      id: "by-hand",
      name: "Credentials by hand",
      steps: [
        {
          id: "call",
          type: "http",
          config: {
            url: `${base}/ok?apikey=plain-url-key-1&q=owls&access_token=plain-url-token-2`,
            query: { signature: "plain-query-sig-3", page: 2 },
            headers: { Authorization: "Basic plain-basic-4", Cookie: "sid=plain-cookie-5", "X-Api-Key": "plain-header-6", Accept: "application/json" },
          },
        },
      ],
    });
    expect(result.status).toBe("succeeded");
    const received = calls[0];
    expect(received.query).toEqual({ apikey: "plain-url-key-1", q: "owls", access_token: "plain-url-token-2", signature: "plain-query-sig-3", page: "2" });
    expect(received.headers).toMatchObject({ authorization: "Basic plain-basic-4", cookie: "sid=plain-cookie-5", "x-api-key": "plain-header-6" });

    const detail = (await getRunDetail(db, userId, result.runId))!;
    const call = detail.steps.find((s) => s.stepId === "call")!;
    const input = call.input as Record<string, unknown>;
    expect(input.url).toBe(`${base}/ok?apikey=[redacted]&q=owls&access_token=[redacted]`);
    expect(input.query).toEqual({ signature: "[redacted]", page: 2 });
    expect(input.headers).toEqual({ Authorization: "Basic [redacted]", Cookie: "[redacted]", "X-Api-Key": "[redacted]", Accept: "application/json" });
    expect(call.logs[0].text).toBe(`GET ${base}/ok?apikey=[redacted]&q=owls&access_token=[redacted]&signature=[redacted]&page=2`);
    // Typed into the definition by hand, they are in it (that is what secrets are for), but in nothing the run wrote.
    const stored = await storedText({ withDefinitions: false });
    for (const plain of ["plain-url-key-1", "plain-url-token-2", "plain-query-sig-3", "plain-basic-4", "plain-cookie-5", "plain-header-6"]) expect(stored.includes(plain), plain).toBe(false);
  });

  it.skipIf(!available)("fails the step that uses a secret its user has not set with SECRET_NOT_FOUND, and the resumed run finds it once set", async () => {
    calls.length = 0;
    const definition = {
      id: "missing-secret",
      name: "Missing secret",
      steps: [
        { id: "before", type: "transform", config: { output: "fine" } },
        { id: "call", type: "http", config: { url: `${base}/ok`, headers: { "X-Api-Key": "{{ secrets.NOT_YET_SET }}" } } },
      ],
      edges: [{ from: "before", to: "call" }],
    };
    const failed = await run(definition);
    expect(failed.status).toBe("failed");
    expect(failed.error).toEqual({
      code: "SECRET_NOT_FOUND",
      stepId: "call",
      message: 'step "call" uses {{ secrets.NOT_YET_SET }}, but no secret "NOT_YET_SET" is set for the user this run belongs to: add it on the Settings page (Secrets) and resume the run',
    });
    expect(failed.outputs).toEqual({ before: "fine" });
    expect(calls).toHaveLength(0);
    const detail = (await getRunDetail(db, userId, failed.runId))!;
    expect(detail.steps.find((s) => s.stepId === "call")).toMatchObject({ status: "failed", error: { code: "SECRET_NOT_FOUND" } });

    await setSecret(db, userId, "NOT_YET_SET", "now-it-is-set");
    await runner.resumeRun(failed.runId, userId);
    const resumed = await runner.waitForRun(failed.runId);
    expect(resumed.status).toBe("succeeded");
    expect(calls.at(-1)!.headers["x-api-key"]).toBe("now-it-is-set");
  });

  it.skipIf(!available)("resolves the secrets of the user the run belongs to", async () => {
    const other = await db.user.create({ data: { id: "user-two", email: "two@example.test", name: "Two" } });
    await setSecret(db, other.id, "API_KEY", OTHER_VALUE);
    calls.length = 0;
    const definition = { id: "whose", name: "Whose secret", steps: [{ id: "call", type: "http", config: { url: `${base}/ok`, headers: { Authorization: "{{ secrets.API_KEY }}" } } }] };
    expect((await run(definition, other.id)).status).toBe("succeeded");
    expect((await run(definition, userId)).status).toBe("succeeded");
    expect(calls.map((c) => c.headers.authorization)).toEqual([OTHER_VALUE, VALUE]);
    await deleteSecret(db, other.id, "API_KEY");
    const without = await run(definition, other.id);
    expect(without.error).toMatchObject({ code: "SECRET_NOT_FOUND", stepId: "call" });
  });

  it.skipIf(!available)("refuses secrets read by a computed name, outside config templates or in kinds that would store them", async () => {
    const refused = async (step: Record<string, unknown>) => {
      try {
        await run({ id: "refused", name: "Refused", steps: [step] });
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidRunError);
        return (err as InvalidRunError).issues.filter((i) => i.code === "INVALID_SECRET_REFERENCE").map((i) => i.message);
      }
      throw new Error("the run was not refused");
    };
    expect(await refused({ id: "t", type: "transform", config: { output: "{{ $keys(secrets) }}" } })).toEqual([
      'step "t" field "config.output": {{ $keys(secrets) }} reads secrets without naming one; write {{ secrets.NAME }} with the name as listed on the Settings page (secrets cannot be listed or looked up by a computed name)',
    ]);
    expect(await refused({ id: "t", type: "transform", config: { output: "{{ $$.secrets.API_KEY }}" } })).toHaveLength(1);
    expect(await refused({ id: "t", type: "transform", config: { output: "{{ $lookup(secrets, 'API_KEY') }}" } })).toHaveLength(1);
    expect((await refused({ id: "t", type: "transform", config: { output: 1 }, assign: { key: "{{ secrets.API_KEY }}" } }))[0]).toContain("reads a secret in assign");
    expect((await refused({ id: "c", type: "condition", config: { expression: "secrets.API_KEY = 'x'" } }))[0]).toContain("in a bare expression");
    expect((await refused({ id: "w", type: "workflow", config: { workflowId: "x", input: { k: "{{ secrets.API_KEY }}" } } }))[0]).toContain(
      "a workflow step cannot use secrets (its input is stored as the sub-workflow run's input",
    );
    expect((await refused({ id: "t", type: "transform", config: { output: "{{ secrets.api_key }}" } }))[0]).toContain(
      '"secrets.api_key" is not a valid secret name: names are 1-64 characters A-Z, 0-9 and _, starting with a letter (^[A-Z][A-Z0-9_]{0,63}$)',
    );
  });

  it.skipIf(!available)("stores values encrypted, lists names only, and bounds names, values and their number", async () => {
    await setSecret(db, userId, "AT_REST", "plain-value-at-rest");
    const [row] = await sql.query<{ sealed: string }>(`SELECT "sealed" FROM "Secret" WHERE "ownerId" = ? AND "name" = ?`, [userId, "AT_REST"]);
    expect(row.sealed).toMatch(/^v1:/);
    expect(row.sealed).not.toContain("plain-value-at-rest");
    expect(row.sealed).not.toContain(Buffer.from("plain-value-at-rest").toString("base64"));
    const listed = await listSecrets(db, userId);
    expect(listed.find((s) => s.name === "AT_REST")).toEqual({ name: "AT_REST", createdAt: expect.any(Date), updatedAt: expect.any(Date) });
    expect(JSON.stringify(listed)).not.toContain("plain-value");
    // The audit log records names only.
    const audit = await db.auditLog.findMany({ where: { targetType: "secret" } });
    expect(audit.map((a) => a.action)).toContain("secret.create");
    expect(JSON.stringify(audit)).not.toContain("plain-value");

    const code = async (fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        return { code: (err as OrchestratorError).code, message: (err as Error).message };
      }
      throw new Error("not refused");
    };
    expect(await code(() => setSecret(db, userId, "api-key", "abcd"))).toEqual({
      code: "INVALID_INPUT",
      message: 'name: "api-key" is not a valid secret name; names are 1-64 characters A-Z, 0-9 and _, starting with a letter (^[A-Z][A-Z0-9_]{0,63}$), e.g. API_KEY',
    });
    expect((await code(() => setSecret(db, userId, `A${"B".repeat(64)}`, "abcd"))).code).toBe("INVALID_INPUT");
    expect((await setSecret(db, userId, `A${"B".repeat(63)}`, "abcd")).created).toBe(true);
    expect(await code(() => setSecret(db, userId, "BIG", "x".repeat(MAX_SECRET_VALUE_BYTES + 1)))).toEqual({
      code: "INVALID_INPUT",
      message: "value: the secret is 65,537 bytes or more, more than the limit of 65,536 bytes (64 KB)",
    });
    expect((await code(() => setSecret(db, userId, "BIG", "é".repeat(MAX_SECRET_VALUE_BYTES / 2 + 1)))).code).toBe("INVALID_INPUT");
    expect((await setSecret(db, userId, "BIG", "x".repeat(MAX_SECRET_VALUE_BYTES))).created).toBe(true);
    expect((await code(() => setSecret(db, userId, "SHORT", "abc"))).message).toContain("value: a secret must be at least 4 characters long");
    expect(await code(() => deleteSecret(db, userId, "NO_SUCH"))).toEqual({ code: "NOT_FOUND", message: 'name: there is no secret "NO_SUCH" to delete' });

    // The number per user: filled up to the bound, one more is refused, replacing a value still works.
    const have = (await listSecrets(db, userId)).length;
    for (let i = have; i < MAX_SECRETS_PER_USER; i++) await setSecret(db, userId, `FILL_${i}`, "filler");
    expect(await code(() => setSecret(db, userId, "ONE_TOO_MANY", "abcd"))).toEqual({
      code: "CONFLICT",
      message: `you have ${MAX_SECRETS_PER_USER} secrets, the most a user may have (${MAX_SECRETS_PER_USER}); delete one you no longer use, or replace the value of an existing one`,
    });
    expect((await setSecret(db, userId, "AT_REST", "replaced-value")).created).toBe(false);
    await deleteSecret(db, userId, "AT_REST");
    expect((await setSecret(db, userId, "ONE_TOO_MANY", "abcd")).created).toBe(true);
  });
});
