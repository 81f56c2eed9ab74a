import { readLimitedBody } from "@/app/api/body";
import { serverRuntime } from "@/app/_server/runtime";
import { errorAnswer } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import { handleCallbackRequest } from "@/lib/webhooks/callbacks";

export const dynamic = "force-dynamic";

type Params = { runId: string; stepId: string; execution: string; token: string };

/**
 * POST /api/callbacks/<runId>/<stepId>/<execution>/<token>: resumes a run waiting at a wait_webhook step with
 * the JSON body (or the text, when it is not JSON) as that step's output. 202 `{ runId }`; 400 for a body
 * nested deeper than the nesting limit; 404 for an unknown URL; 409 when the step is not waiting any more.
 */
export async function POST(request: Request, { params }: { params: Promise<Params> }) {
  const { runId, stepId, execution, token } = await params;
  try {
    const read = await readLimitedBody(request);
    if ("tooLarge" in read) return read.tooLarge;
    const { runner } = await serverRuntime();
    const answer = await handleCallbackRequest({ runner }, { runId, stepId, execution: Number(execution), token, rawBody: read.text });
    return Response.json(answer.body, { status: answer.status });
  } catch (err) {
    logger.error({ err, runId }, "callback failed");
    const { status, body } = errorAnswer(err, "the callback could not be processed; the details are in the server log");
    return Response.json(body, { status });
  }
}
