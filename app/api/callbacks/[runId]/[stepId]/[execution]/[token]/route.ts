import { readLimitedBody } from "@/app/api/body";
import { serverRuntime } from "@/app/_server/runtime";
import { OrchestratorError } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";

export const dynamic = "force-dynamic";

type Params = { runId: string; stepId: string; execution: string; token: string };

/**
 * POST /api/callbacks/<runId>/<stepId>/<execution>/<token>: resumes a run waiting at a wait_webhook step with
 * the JSON body (or the text, when it is not JSON) as that step's output. 202 `{ runId }`; 404 for an unknown
 * URL; 409 when the step is not waiting any more.
 */
export async function POST(request: Request, { params }: { params: Promise<Params> }) {
  const { runId, stepId, execution, token } = await params;
  try {
    const read = await readLimitedBody(request);
    if ("tooLarge" in read) return read.tooLarge;
    const text = read.text;
    let body: unknown = null;
    if (text.trim()) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const { runner } = await serverRuntime();
    await runner.deliverCallback(runId, stepId, Number(execution), token, body);
    return Response.json({ runId, status: "queued" }, { status: 202 });
  } catch (err) {
    if (err instanceof OrchestratorError && err.code === "NOT_FOUND") return Response.json({ error: { code: err.code, message: err.message } }, { status: 404 });
    if (err instanceof OrchestratorError && err.code === "INVALID_INPUT") return Response.json({ error: { code: "CONFLICT", message: err.message } }, { status: 409 });
    logger.error({ err, runId }, "callback failed");
    return Response.json({ error: { code: "INTERNAL", message: "the callback could not be processed; the details are in the server log" } }, { status: 500 });
  }
}
