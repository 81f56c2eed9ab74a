import type { IncomingMessage, ServerResponse } from "node:http";
import type { Db } from "@/lib/db";
import type { SqlConnection } from "@/lib/db/sql";
import { errorAnswer, refusal } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import type { Runner } from "@/lib/runner/runner";
import { handleHookRequest, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, type HookResponse } from "./hooks";

export const HOOK_FAILED = "the webhook could not be processed; the details are in the server log";

/** Inbound webhook bodies are capped (the routes are public and read the body before authenticating). */
export const MAX_HOOK_BODY_BYTES = 1024 * 1024;

export const payloadTooLarge = () => refusal("PAYLOAD_TOO_LARGE", `the body is larger than ${MAX_HOOK_BODY_BYTES} bytes`);

/** `/api/hooks/<workflowId>` or `/api/hooks/<workflowId>/<token>`; anything else is not a trigger path. */
export function parseHookPath(pathname: string): { workflowId: string; token?: string } | undefined {
  const parts = pathname.split("/");
  if (parts.length < 4 || parts.length > 5 || parts[0] !== "" || parts[1] !== "api" || parts[2] !== "hooks") return undefined;
  try {
    const [workflowId, token] = parts.slice(3).map(decodeURIComponent);
    if (!workflowId || token === "") return undefined;
    return { workflowId, ...(token !== undefined ? { token } : {}) };
  } catch {
    return undefined; // malformed percent-encoding: left to the framework's answer
  }
}

/**
 * The webhook trigger served straight from the Node server, before Next: a trigger is the hot path of a
 * loaded server, and the framework's request handling costs more than a short run. Same answers as the route
 * handlers in app/api/hooks (which serve it when the app runs without server.ts). Returns false when the request
 * is not a trigger (the caller hands it to Next).
 */
export function serveHook(req: IncomingMessage, res: ServerResponse, deps: () => Promise<{ db: Db; sql: SqlConnection; runner: Runner }>): boolean {
  if (req.method !== "POST" || !req.url?.startsWith("/api/hooks/")) return false;
  const url = new URL(req.url, "http://localhost");
  const target = parseHookPath(url.pathname);
  if (!target) return false;
  void answer(req, res, url, target, deps);
  return true;
}

async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  target: { workflowId: string; token?: string },
  deps: () => Promise<{ db: Db; sql: SqlConnection; runner: Runner }>,
) {
  const send = (status: number, body: unknown) => {
    if (res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), "x-content-type-options": "nosniff" });
    res.end(text);
  };
  try {
    const rawBody = await readBody(req);
    if (rawBody === undefined) {
      const { status, body } = payloadTooLarge();
      return send(status, body);
    }
    const timeout = url.searchParams.get("timeout");
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : (value ?? null);
    };
    const reply: HookResponse = await handleHookRequest(await deps(), {
      ...target,
      signature: header(SIGNATURE_HEADER),
      timestamp: header(TIMESTAMP_HEADER),
      idempotencyKey: header(IDEMPOTENCY_HEADER),
      rawBody,
      wait: url.searchParams.get("wait") === "true",
      timeoutMs: timeout && Number.isFinite(Number(timeout)) ? Math.max(0, Number(timeout)) : undefined,
    });
    send(reply.status, reply.body);
  } catch (err) {
    logger.error({ err, workflowId: target.workflowId }, "webhook trigger failed");
    const { status, body } = errorAnswer(err, HOOK_FAILED);
    send(status, body);
  }
}

/** The body as text, or undefined when it is over the cap (a declared length over it is refused unread). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  if (Number(req.headers["content-length"] ?? 0) > MAX_HOOK_BODY_BYTES) {
    req.resume(); // drain what the client still sends, unbuffered
    return Promise.resolve(undefined);
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (chunk: Buffer) => {
      if (over) return;
      size += chunk.byteLength;
      if (size > MAX_HOOK_BODY_BYTES) {
        over = true;
        chunks.length = 0;
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (!over) resolve(Buffer.concat(chunks).toString("utf8"));
    });
    req.on("error", reject);
  });
}
