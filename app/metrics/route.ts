import { serverRuntime } from "@/app/_server/runtime";
import { errorAnswer } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import { metricsExposition } from "@/lib/observability/metrics";
import { requireMetricsAccess } from "@/lib/observability/metrics-access";

export const dynamic = "force-dynamic";

/**
 * GET /metrics: this process's Prometheus metrics (lib/observability/metrics.ts) in the text exposition format.
 * An admin's or the owner's API token; open to loopback clients until the owner is set up.
 */
export async function GET(request: Request) {
  try {
    const runtime = await serverRuntime();
    await requireMetricsAccess(runtime, request.headers);
    const { text, contentType } = await metricsExposition();
    return new Response(text, { headers: { "content-type": contentType, "cache-control": "no-store" } });
  } catch (err) {
    const { status, body } = errorAnswer(err);
    if (status >= 500) logger.error({ err }, "metrics failed");
    return Response.json(body, { status });
  }
}
