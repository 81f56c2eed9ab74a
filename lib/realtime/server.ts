import type { Server as HttpServer } from "node:http";
import { Server } from "socket.io";
import type { RunPublisher } from "@/lib/runner/events";
import { runEventsAfter } from "@/lib/runner/queries";
import type { Runtime } from "@/lib/runtime";
import { runRoom, type ClientToServerEvents, type ServerToClientEvents } from "./events";

/**
 * Socket.IO on the app's HTTP server: one room per run. A subscriber joins first and then reads the stored
 * events after its last seq, so between the two nothing can be lost (duplicates are dropped by seq on the client).
 */
export function attachRealtime(httpServer: HttpServer, runtime: () => Promise<Runtime>) {
  const io = new Server<ClientToServerEvents, ServerToClientEvents>(httpServer, { serveClient: false });

  io.on("connection", (socket) => {
    socket.on("run:subscribe", async (request, ack) => {
      try {
        if (typeof request?.runId !== "string") return ack({ ok: false, error: "runId is required" });
        const { db, userId } = await runtime();
        await socket.join(runRoom(request.runId));
        const found = await runEventsAfter(db, userId, request.runId, Number(request.afterSeq) || 0);
        if (!found) {
          await socket.leave(runRoom(request.runId));
          return ack({ ok: false, error: "run not found" });
        }
        ack({ ok: true, snapshot: { runId: request.runId, status: found.status, events: found.events } });
      } catch {
        ack({ ok: false, error: "could not subscribe to the run" });
      }
    });
    socket.on("run:unsubscribe", (request) => {
      if (typeof request?.runId === "string") void socket.leave(runRoom(request.runId));
    });
  });

  const publisher: RunPublisher = {
    publish: (event) => io.to(runRoom(event.runId)).emit("run:event", event),
    publishToken: (event) => io.to(runRoom(event.runId)).emit("run:token", event),
  };
  return { io, publisher };
}
