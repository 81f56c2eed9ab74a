import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SqlCheckpointSaver } from "@/lib/checkpoint/sql-saver";
import { actorById } from "@/lib/auth/access";
import { createAuth } from "@/lib/auth/auth";
import { createToken } from "@/lib/auth/users";
import { createDb, ensureLocalUser } from "@/lib/db";
import { openSql } from "@/lib/db/sql";
import { Runner } from "@/lib/runner/runner";
import type { Runtime } from "@/lib/runtime";
import { sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { startLlmGateway } from "@/e2e/fixtures/llm-gateway";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import type { ClientToServerEvents, ServerToClientEvents } from "./events";
import { attachRealtime } from "./server";

/** Real Socket.IO server and client over loopback, with the real runner and a SQLite database. */
let runtime: Runtime;
let url: string;
let token: string;
let close: () => Promise<void>;

beforeAll(async () => {
  const gateway = await startLlmGateway();
  process.env.LLM_GATEWAY_URL = gateway.url;
  const database = sqliteTestDatabase();
  const db = await createDb(database.url);
  const sql = openSql(database.url);
  const userId = await ensureLocalUser(db);
  const checkpointer = new SqlCheckpointSaver(sql);
  const runner = new Runner({ db, sql, checkpointer, concurrency: 2 });
  runtime = { db, sql, checkpointer, runner, userId, auth: createAuth(db) };
  ({ token } = await createToken(db, await actorById(db, userId), userId, "realtime tests"));
  const http = createServer();
  const { io, publisher } = attachRealtime(http, async () => runtime);
  runner.publisher = publisher;
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  close = async () => {
    io.close();
    await db.$disconnect();
    await sql.close();
    await gateway.close();
    await database.drop();
  };
});
afterAll(() => close());

type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Subscribes like the browser does and collects stored + live events until the run ends. */
function follow(runId: string, afterSeq: number) {
  const socket: Client = connect(url, { transports: ["websocket"], forceNew: true, auth: { token } });
  const events: RunEvent[] = [];
  const tokens: TokenEvent[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const take = (event: RunEvent) => {
      if (events.some((e) => e.seq === event.seq)) return;
      events.push(event);
      if (event.type === "run.status" && ["succeeded", "failed"].includes(event.status)) resolve();
    };
    socket.on("run:event", take);
    socket.on("run:token", (t) => tokens.push(t));
    socket.on("connect", () =>
      socket.emit("run:subscribe", { runId, afterSeq }, (reply) => (reply.ok ? reply.snapshot.events.forEach(take) : reject(new Error(reply.error)))),
    );
  });
  return { socket, events, tokens, done };
}

const definition = {
  id: "live",
  name: "Live",
  steps: [
    { id: "first", type: "llm", config: { model: "slow-300", prompt: "one two three" } },
    { id: "second", type: "transform", config: { output: "{{ steps.first.text }}" } },
  ],
};

describe("live run events over Socket.IO", () => {
  it("a late subscriber gets the stored events, then live ones, in order without gaps", async () => {
    const { runId } = await runtime.runner.startRun({ definition, ownerId: runtime.userId });
    await new Promise((r) => setTimeout(r, 100)); // the run is under way
    const late = follow(runId, 0);
    const resumed = follow(runId, 3);
    await Promise.all([late.done, resumed.done]);
    const seqs = late.events.map((e) => e.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(late.events.at(-1)).toMatchObject({ type: "run.status", status: "succeeded" });
    expect(resumed.events.map((e) => e.seq)).toEqual(seqs.filter((s) => s > 3));
    expect(late.tokens.map((t) => t.text).join("")).toBe("Echo: one two three");
    late.socket.close();
    resumed.socket.close();
  });

  it("refuses runs that do not exist", async () => {
    const socket: Client = connect(url, { transports: ["websocket"], forceNew: true, auth: { token } });
    const reply = await new Promise((resolve) => socket.emit("run:subscribe", { runId: "run_missing" }, resolve));
    expect(reply).toEqual({ ok: false, error: "run not found" });
    socket.close();
  });
});
