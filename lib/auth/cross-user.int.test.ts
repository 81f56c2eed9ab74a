import { io as connect, type Socket } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openTestRunner, postgresAvailable, postgresTestDatabase, sqliteTestDatabase } from "@/e2e/fixtures/databases";
import { listenRealtime } from "@/e2e/fixtures/realtime-server";
import { actorById } from "@/lib/auth/access";
import { addUser, createToken } from "@/lib/auth/users";
import type { ClientToServerEvents, ServerToClientEvents } from "@/lib/realtime/events";
import type { RunEvent } from "@/lib/runner/event-types";
import { getRunDetail, listRuns } from "@/lib/runner/queries";
import { validateWorkflow } from "@/lib/workflow/validate";
import { deleteWorkflow, getWorkflow, saveWorkflowVersion } from "@/lib/workflows/repository";

/**
 * Cross-user holes below HTTP, with the real realtime server, runner and SQLite: what one user can learn of another
 * user's runs through the socket while a subscription is being checked, and through a workflow id the other user
 * had used. (The HTTP surfaces — pages, routes, actions, sockets of the real server — are in e2e/matrix.spec.ts.)
 */
type Client = Socket<ServerToClientEvents, ClientToServerEvents>;

let harness: Awaited<ReturnType<typeof openTestRunner>>;
let realtime: Awaited<ReturnType<typeof listenRealtime>>;
const users: Record<"alice" | "bob", { id: string; token: string }> = {} as never;
let aliceRunId: string;
const sockets: Client[] = [];

const approval = (id: string) =>
  validateWorkflow({ id, name: `Approval ${id}`, steps: [{ id: "ok", type: "approval", config: { message: "ok?" } }] }).definition!;

function socketOf(token: string | undefined): Client {
  const socket: Client = connect(realtime.url, { transports: ["websocket"], forceNew: true, reconnection: false, ...(token ? { auth: { token } } : {}) });
  sockets.push(socket);
  return socket;
}

const connected = (socket: Client) =>
  new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });

beforeAll(async () => {
  // Postgres when it is there: its queries are I/O, so other work (a run's events going out) runs between a
  // subscription's awaits — on SQLite they mostly finish in one turn and the window is hard to hit.
  harness = await openTestRunner((await postgresAvailable()) ? postgresTestDatabase() : sqliteTestDatabase());
  realtime = await listenRealtime(harness);
  const { db, userId, runner } = harness;
  const owner = await actorById(db, userId);
  for (const name of ["alice", "bob"] as const) {
    const user = await addUser(db, owner, { email: `${name}@example.com`, password: `${name}-password-1`, role: "editor" });
    users[name] = { id: user.id, token: (await createToken(db, owner, user.id, `${name} socket`)).token };
  }
  await saveWorkflowVersion(db, users.alice.id, approval("alice-approval"));
  aliceRunId = (await runner.startRun({ definition: approval("alice-approval"), ownerId: users.alice.id, source: "web" })).runId;
  await runner.waitForRun(aliceRunId);
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  realtime.close();
  await harness.close();
});

describe("cross-user access below HTTP", () => {
  it("a second user's run:subscribe to another user's run is refused and none of its live events reach it, even while the check goes on", async () => {
    const alice = socketOf(users.alice.token);
    const bob = socketOf(users.bob.token);
    await Promise.all([connected(alice), connected(bob)]);
    const seenBy = { alice: 0, bob: 0 };
    alice.on("run:event", () => seenBy.alice++);
    bob.on("run:event", () => seenBy.bob++);
    expect(await alice.emitWithAck("run:subscribe", { runId: aliceRunId })).toMatchObject({ ok: true });

    // The run's live events go out as fast as they come while bob asks to follow the run again and again. The
    // runner publishes from promise continuations, which interleave with the subscription's own awaits: so do
    // these (chains of microtasks, a new chain every turn of the event loop).
    let seq = 1_000;
    let publishing = true;
    const publishOne = () => {
      const event: RunEvent = { type: "step.log", stepId: "ok", execution: 1, level: "info", text: "secret", runId: aliceRunId, seq: ++seq, at: new Date().toISOString() };
      harness.runner.publisher.publish(event);
    };
    const publish = () => {
      if (!publishing) return;
      let chain = Promise.resolve();
      for (let i = 0; i < 50; i++) chain = chain.then(publishOne);
      void chain.then(() => setImmediate(publish));
    };
    publish();
    const answers = await Promise.all(Array.from({ length: 150 }, () => bob.emitWithAck("run:subscribe", { runId: aliceRunId, afterSeq: 0 })));
    // Bob also leaves rooms it is not in: harmless, alice still follows.
    bob.emit("run:unsubscribe", { runId: aliceRunId });
    await new Promise((resolve) => setTimeout(resolve, 100));
    publishing = false;

    expect(answers.every((answer) => !answer.ok && answer.error === "run not found")).toBe(true);
    expect(seenBy.alice).toBeGreaterThan(10); // the events did go out
    expect(seenBy.bob).toBe(0);
  });

  it("a second user's workflow:watch of another user's workflow is refused; an anonymous socket is not let in", async () => {
    const bob = socketOf(users.bob.token);
    await connected(bob);
    expect(await bob.emitWithAck("workflow:watch", { workflowId: "alice-approval" })).toEqual({ ok: false, error: "workflow not found" });
    expect(await bob.emitWithAck("run:subscribe", { runId: "run_does_not_exist" })).toEqual({ ok: false, error: "run not found" });
    await expect(connected(socketOf(undefined))).rejects.toThrow(/UNAUTHORIZED/);
    await expect(connected(socketOf("orc_not-a-token"))).rejects.toThrow(/UNAUTHORIZED/);
  });

  it("a workflow id another user had (deleted, its runs kept) cannot be taken over to read their runs", async () => {
    const { db, runner } = harness;
    await saveWorkflowVersion(db, users.alice.id, approval("short-lived"));
    const { runId } = await runner.startRun({ definition: approval("short-lived"), ownerId: users.alice.id, source: "web" });
    await runner.waitForRun(runId);
    await deleteWorkflow(db, users.alice.id, "short-lived");
    expect((await listRuns(harness, users.alice.id)).runs.map((r) => r.runId)).toContain(runId); // alice keeps her history

    await expect(saveWorkflowVersion(db, users.bob.id, approval("short-lived"))).rejects.toMatchObject({
      code: "INVALID_DEFINITION",
      message: expect.stringMatching(/"short-lived" .*(taken|used)/),
    });
    expect(await getWorkflow(db, users.bob.id, "short-lived")).toBeNull();
    expect((await listRuns(harness, users.bob.id)).runs.map((r) => r.runId)).not.toContain(runId);
    expect(await getRunDetail(db, users.bob.id, runId)).toBeNull();
    // Alice may use her id again.
    expect(await saveWorkflowVersion(db, users.alice.id, approval("short-lived"))).toMatchObject({ workflowId: "short-lived", version: 1 });
  });
});
