import type { Server as HttpServer } from "node:http";
import { Server } from "socket.io";
import { canWatchWorkflow } from "@/lib/auth/access";
import { authenticate } from "@/lib/auth/request";
import type { RunEvent, TokenEvent } from "@/lib/runner/event-types";
import { parseEventRow, type RunPublisher } from "@/lib/runner/events";
import { eventForViewers } from "@/lib/runner/callback-privacy";
import { activeRunId, runAccessOf, runEventsAfter } from "@/lib/runner/queries";
import { CHUNKS_FROM_START, storedChunksAfter, type ChunkCursor } from "@/lib/runner/stored-tokens";
import { realtimeHandshakeCheck, type RequestGuard } from "@/lib/net/http-guard";
import type { Runtime } from "@/lib/runtime";
import { runRoom, runViewRoom, workflowRoom, type ClientToServerEvents, type ServerToClientEvents } from "./events";
import { StreamingTexts } from "./streaming-texts";
import { runRoomsAdapter } from "./redis";

/** How often runs executing in other processes (the CLI, a peer server) and watched workflows are looked at. */
const POLL_MS = 500;
/** Most events relayed per look, over all followed runs (the next look goes on). */
const POLL_BATCH = 1000;
/** Runs and workflows one connection may follow at once: each is work for every look (an editor needs two). */
export const MAX_FOLLOWED_PER_CONNECTION = 64;
/** Longest run or workflow id taken (real ones are far shorter). */
const MAX_ID_LENGTH = 200;

/** Why a connection may not join a room to follow `id`, or undefined when it may. */
function followRefusal(socket: { rooms: Set<string> }, room: string, id: string, what: "runId" | "workflowId"): string | undefined {
  if (id.length > MAX_ID_LENGTH) return `${what} is too long (at most ${MAX_ID_LENGTH} characters)`;
  // socket.rooms holds the connection's own room too.
  if (!socket.rooms.has(room) && socket.rooms.size - 1 >= MAX_FOLLOWED_PER_CONNECTION)
    return `one connection follows at most ${MAX_FOLLOWED_PER_CONNECTION} runs and workflows: unsubscribe from some first`;
  return undefined;
}

/**
 * Socket.IO on the app's HTTP server: one room per run. A subscriber joins first and then reads the stored
 * events after its last seq, so between the two nothing can be lost (duplicates are dropped by seq on the client).
 * The snapshot also has the text that running steps streamed so far (`StreamingTexts`).
 *
 * Runs this process executes publish their events here as they are stored. A followed run that executes elsewhere
 * (a CLI process, another server) is followed from the event log instead, every POLL_MS while someone is in its
 * room, together with the streamed text such a process stores (stored-tokens.ts), relayed as token events in the
 * order it was written among the events. Workflows an editor watches (a room each) are looked at as often, and a
 * new active run is announced.
 */
export function attachRealtime(
  httpServer: HttpServer,
  runtime: () => Promise<Runtime>,
  options: {
    pollMs?: number;
    allowRequest?: RequestGuard["allowRealtime"];
    /** Queue mode: run events and tokens of workers (and peer web processes) arrive through Redis (lib/realtime/redis.ts). */
    redis?: { url: string; key: string };
  } = {},
) {
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(httpServer, {
    serveClient: false,
    // Host and Origin of every handshake (DNS rebinding, other sites' pages): lib/net/http-guard.ts.
    allowRequest: options.allowRequest ?? realtimeHandshakeCheck(),
  });
  const texts = new StreamingTexts();
  /** Runs someone follows, with the last seq sent to their room. */
  const followed = new Map<string, number>();
  /** Followed runs executing elsewhere whose stored text was read, with the last chunk relayed. */
  const chunkCursors = new Map<string, ChunkCursor>();
  /** Workflows someone watches, with the active run last announced. */
  const watched = new Map<string, string | null>();
  let timer: NodeJS.Timeout | undefined;
  let looking = false;

  /** Delivers an event to this process's sockets; unless `local`, the Redis adapter also hands it to peer web processes. */
  const deliver = (event: RunEvent, local: boolean) => {
    const to = local ? io.local : io;
    texts.event(event);
    const sent = followed.get(event.runId);
    if (sent !== undefined) followed.set(event.runId, Math.max(sent, event.seq));
    to.to(runRoom(event.runId)).emit("run:event", event);
    // Peers derive the view-only variant themselves (they get the full event in the run's room).
    io.local.to(runViewRoom(event.runId)).emit("run:event", eventForViewers(event));
  };
  const relay = (event: RunEvent) => deliver(event, false);
  const deliverToken = (event: TokenEvent, local: boolean) => {
    texts.token(event);
    if (local || !options.redis) io.local.to([runRoom(event.runId), runViewRoom(event.runId)]).emit("run:token", event);
    else {
      io.to(runRoom(event.runId)).emit("run:token", event);
      io.local.to(runViewRoom(event.runId)).emit("run:token", event);
    }
  };
  const relayToken = (event: TokenEvent) => deliverToken(event, false);
  /**
   * Traffic of runs executing elsewhere, through Redis: an event is delivered only when it is the next of its run
   * for this process's watchers. One already sent (by the log poll), or one after a gap (a publication Redis lost),
   * is not: the poll reads the log from the last seq sent and delivers in order, so a client (which drops seqs at
   * or below its last) never skips one.
   */
  const fromRedis = {
    event(event: RunEvent) {
      const sent = followed.get(event.runId);
      if (sent !== undefined && event.seq !== sent + 1) return;
      deliver(event, true);
    },
    token(event: TokenEvent) {
      deliverToken(event, true);
    },
  };
  const redis = options.redis ? runRoomsAdapter(options.redis.url, options.redis.key, fromRedis) : undefined;
  if (redis) {
    io.adapter(redis.adapter as unknown as Parameters<typeof io.adapter>[0]);
  }
  /**
   * Relays what was read of runs executing elsewhere in the order it was stored (see `storedChunksAfter`): the
   * events up to the run's last seq at the chunks' snapshot, each chunk after the events before it (its step's
   * start among them) and before its step's end. Later events wait for the next look, which reads chunks first.
   */
  const relayStored = (events: RunEvent[], { chunks, lastSeqs }: Awaited<ReturnType<typeof storedChunksAfter>>) => {
    const relayNew = (event: RunEvent) => {
      // Every web process reads the log itself: what it read goes to its own sockets only.
      if (event.seq > (followed.get(event.runId) ?? Infinity)) deliver(event, true);
    };
    // Each run's events of the snapshot, in seq order, not relayed yet.
    const pending = new Map<string, RunEvent[]>();
    for (const event of events) {
      if (event.seq > (lastSeqs.get(event.runId) ?? 0)) continue;
      const list = pending.get(event.runId);
      if (list) list.push(event);
      else pending.set(event.runId, [event]);
    }
    for (const chunk of chunks) {
      const before = pending.get(chunk.runId) ?? [];
      while (before.length && before[0].seq <= chunk.afterSeq) relayNew(before.shift()!);
      // The events before it did not fit in this look: the chunk (and the run's next ones) wait for the next look.
      if ((followed.get(chunk.runId) ?? 0) < chunk.afterSeq) continue;
      deliverToken(chunk.token, true);
      chunkCursors.set(chunk.runId, { afterSeq: chunk.afterSeq, part: chunk.part });
    }
    for (const rest of pending.values()) rest.forEach(relayNew);
  };
  const inRoom = (room: string) => (io.sockets.adapter.rooms.get(room)?.size ?? 0) > 0;

  const look = async () => {
    if (looking) return;
    looking = true;
    try {
      for (const runId of followed.keys()) {
        if (inRoom(runRoom(runId)) || inRoom(runViewRoom(runId))) continue;
        followed.delete(runId);
        // Text read from storage is not kept for a run nobody follows (it would go stale unseen).
        if (chunkCursors.delete(runId)) texts.forget(runId);
      }
      for (const workflowId of watched.keys()) if (!inRoom(workflowRoom(workflowId))) watched.delete(workflowId);
      if (!followed.size && !watched.size) {
        clearInterval(timer);
        timer = undefined;
        return;
      }
      const { db, sql, userId, runner } = await runtime();
      const elsewhere = [...followed].filter(([runId]) => !runner.holds(runId));
      if (elsewhere.length) {
        // Chunks first: the events stored before them are then among the events read next.
        const stored = await storedChunksAfter(sql, elsewhere.map(([runId]) => [runId, chunkCursors.get(runId) ?? CHUNKS_FROM_START]), POLL_BATCH);
        for (const [runId] of elsewhere) if (!chunkCursors.has(runId)) chunkCursors.set(runId, CHUNKS_FROM_START);
        const rows = await db.runEvent.findMany({
          where: { OR: elsewhere.map(([runId, seq]) => ({ runId, seq: { gt: seq } })) },
          orderBy: [{ runId: "asc" }, { seq: "asc" }],
          take: POLL_BATCH,
        });
        relayStored(rows.map(parseEventRow), stored);
      }
      await Promise.all(
        [...watched].map(async ([workflowId, announced]) => {
          const runId = await activeRunId(db, userId, workflowId);
          if (runId === announced || !watched.has(workflowId)) return;
          watched.set(workflowId, runId);
          // Each web process looks at the workflows its own sockets watch.
          if (runId) io.local.to(workflowRoom(workflowId)).emit("workflow:run", { workflowId, runId });
        }),
      );
    } catch {
      // Looked at again on the next tick.
    } finally {
      looking = false;
    }
  };
  const keepLooking = () => {
    timer ??= setInterval(() => void look(), options.pollMs ?? POLL_MS);
    timer.unref();
  };
  httpServer.once("close", () => {
    clearInterval(timer);
    redis?.close();
  });

  // Every connection is a user's: the sign-in cookie of the page, or an API token (`auth: { token }` or an
  // Authorization header) for other clients. Rooms are then joined only for runs and workflows the user can see.
  io.use(async (socket, next) => {
    try {
      const headers = new Headers();
      for (const [name, value] of Object.entries(socket.handshake.headers)) if (typeof value === "string") headers.set(name, value);
      const token = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      if (typeof token === "string") headers.set("authorization", `Bearer ${token}`);
      const actor = await authenticate(await runtime(), headers);
      if (!actor) return next(new Error("UNAUTHORIZED: sign in, or pass an API token as auth.token"));
      socket.data.userId = actor.id;
      next();
    } catch {
      next(new Error("could not check the session"));
    }
  });

  io.on("connection", (socket) => {
    const userId = socket.data.userId as string;
    socket.on("run:subscribe", async (request, ack) => {
      try {
        if (typeof request?.runId !== "string") return ack({ ok: false, error: "runId is required" });
        const { db } = await runtime();
        const afterSeq = Number(request.afterSeq) || 0;
        // Those who may only view the run get its events from a room of their own (callback URLs hidden).
        const access = request.runId.length <= MAX_ID_LENGTH ? await runAccessOf(db, userId, request.runId) : "view";
        if (!access) return ack({ ok: false, error: "run not found" });
        const room = access === "control" ? runRoom(request.runId) : runViewRoom(request.runId);
        // Checked right before joining (no await between), so follows asked for at once are counted one by one.
        const refusal = followRefusal(socket, room, request.runId, "runId");
        if (refusal) return ack({ ok: false, error: refusal });
        await socket.join(room);
        const found = await runEventsAfter(db, userId, request.runId, afterSeq);
        if (!found) {
          await socket.leave(room);
          return ack({ ok: false, error: "run not found" });
        }
        followed.set(request.runId, Math.max(followed.get(request.runId) ?? 0, found.events.at(-1)?.seq ?? afterSeq));
        keepLooking();
        ack({ ok: true, snapshot: { runId: request.runId, status: found.status, events: found.events, streaming: texts.snapshot(request.runId) } });
      } catch {
        ack({ ok: false, error: "could not subscribe to the run" });
      }
    });
    socket.on("run:unsubscribe", (request) => {
      if (typeof request?.runId !== "string") return;
      void socket.leave(runRoom(request.runId));
      void socket.leave(runViewRoom(request.runId));
    });
    socket.on("workflow:watch", async (request, ack) => {
      try {
        if (typeof request?.workflowId !== "string") return ack({ ok: false, error: "workflowId is required" });
        const { db } = await runtime();
        if (request.workflowId.length <= MAX_ID_LENGTH && !(await canWatchWorkflow(db, userId, request.workflowId)))
          return ack({ ok: false, error: "workflow not found" });
        // Checked right before joining (no await between), so watches asked for at once are counted one by one.
        const refusal = followRefusal(socket, workflowRoom(request.workflowId), request.workflowId, "workflowId");
        if (refusal) return ack({ ok: false, error: refusal });
        await socket.join(workflowRoom(request.workflowId));
        const runId = await activeRunId(db, userId, request.workflowId);
        if (!watched.has(request.workflowId)) watched.set(request.workflowId, runId);
        keepLooking();
        ack({ ok: true, runId });
      } catch {
        ack({ ok: false, error: "could not watch the workflow" });
      }
    });
    socket.on("workflow:unwatch", (request) => {
      if (typeof request?.workflowId === "string") void socket.leave(workflowRoom(request.workflowId));
    });
  });

  const publisher: RunPublisher = {
    publish: relay,
    publishToken: relayToken,
  };
  return { io, publisher, texts };
}
