import "server-only";
import { serverRuntime } from "@/app/_server/runtime";
import { readLimitedBody } from "@/app/api/body";
import { logger } from "@/lib/logger";
import { errorAnswer } from "@/lib/engine/errors";
import { handleHookRequest, IDEMPOTENCY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER } from "@/lib/webhooks/hooks";
import { HOOK_FAILED } from "@/lib/webhooks/http";

/** Shared by both trigger routes (token in the path, or signature and timestamp headers). Errors never carry a stack. */
export async function hookRoute(request: Request, workflowId: string, token?: string): Promise<Response> {
  try {
    const body = await readLimitedBody(request);
    if ("tooLarge" in body) return body.tooLarge;
    const rawBody = body.text;
    const url = new URL(request.url);
    const timeout = url.searchParams.get("timeout");
    const { db, sql, runner } = await serverRuntime();
    const answer = await handleHookRequest(
      { db, sql, runner },
      {
        workflowId,
        token,
        signature: request.headers.get(SIGNATURE_HEADER),
        timestamp: request.headers.get(TIMESTAMP_HEADER),
        idempotencyKey: request.headers.get(IDEMPOTENCY_HEADER),
        rawBody,
        wait: url.searchParams.get("wait") === "true",
        timeoutMs: timeout && Number.isFinite(Number(timeout)) ? Math.max(0, Number(timeout)) : undefined,
      },
    );
    return Response.json(answer.body, { status: answer.status });
  } catch (err) {
    logger.error({ err, workflowId }, "webhook trigger failed");
    const { status, body } = errorAnswer(err, HOOK_FAILED);
    return Response.json(body, { status });
  }
}
