import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";
import { actorById } from "@/lib/auth/access";
import { createToken } from "@/lib/auth/users";
import type { ClientToServerEvents, ServerToClientEvents } from "@/lib/realtime/events";
import { saveWorkflowVersion, setShare } from "@/lib/workflows/repository";
import { HIDDEN_CALLBACK_URL } from "./callback-privacy";
import { getRunDetail, runEventsAfter, storedLiveRun } from "./queries";

/** A waiting callback's URL resumes the run: users who may only view the run must not get it, anywhere. */
let harness: Awaited<ReturnType<typeof openTestRunner>>;
let realtime: Awaited<ReturnType<typeof listenRealtime>>;
let runId: string;
const VIEWER = "viewer-user";

beforeAll(async () => {
  harness = await openTestRunner(sqliteTestDatabase());
  realtime = await listenRealtime(harness);
  const { db, userId, runner } = harness;
  await db.user.create({ data: { id: VIEWER, email: "viewer@example.com", name: "Viewer", role: "viewer" } });
  const definition = {
    id: "paid-order",
    name: "Paid order",
    schemaVersion: 1 as const,
    steps: [{ id: "paid", type: "wait_webhook" as const, config: { message: "waiting for the payment provider" } }],
    edges: [],
  };
  await saveWorkflowVersion(db, userId, definition);
  await setShare(db, userId, "paid-order", "viewer@example.com", "view");
  ({ runId } = await runner.startRun({ definition, ownerId: userId }));
  for (let waited = 0; (await db.run.findUniqueOrThrow({ where: { id: runId } })).status !== "waiting"; waited += 50) {
    if (waited > 15_000) throw new Error("the run did not reach its callback step");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});
afterAll(async () => {
  realtime.close();
  await harness.close();
});

const callbackOf = (steps: Array<{ stepId: string; output: unknown }>) => steps.find((s) => s.stepId === "paid")?.output as { url: string; path: string };

describe("callback URLs of waiting steps", () => {
  it("are shown to whoever can act on the run and hidden from view-only users in the run page, events and live state", async () => {
    const { db, userId } = harness;
    expect(callbackOf((await getRunDetail(db, userId, runId))!.steps).path).toMatch(/^\/api\/callbacks\//);
    const viewed = (await getRunDetail(db, VIEWER, runId))!;
    expect(viewed.canControl).toBe(false);
    expect(callbackOf(viewed.steps)).toMatchObject({ url: HIDDEN_CALLBACK_URL, path: HIDDEN_CALLBACK_URL });
    expect(JSON.stringify((await runEventsAfter(db, VIEWER, runId))!.events)).not.toContain("/api/callbacks/");
    expect(JSON.stringify((await runEventsAfter(db, userId, runId))!.events)).toContain("/api/callbacks/");
    expect(JSON.stringify(await storedLiveRun(db, VIEWER, runId))).not.toContain("/api/callbacks/");
  });

  it("are hidden in a view-only user's socket snapshot", async () => {
    const { token } = await createToken(harness.db, await actorById(harness.db, VIEWER), VIEWER, "viewer socket");
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = connect(realtime.url, { transports: ["websocket"], forceNew: true, auth: { token } });
    try {
      const reply = await new Promise<{ ok: boolean; snapshot?: unknown }>((resolve) => socket.emit("run:subscribe", { runId, afterSeq: 0 }, resolve));
      expect(reply.ok).toBe(true);
      const text = JSON.stringify(reply.snapshot);
      expect(text).toContain("waiting for the payment provider");
      expect(text).not.toContain("/api/callbacks/");
    } finally {
      socket.close();
    }
  });
});
