import { hookRoute } from "../handler";

export const dynamic = "force-dynamic";

/** POST /api/hooks/<workflowId> with X-Orchestrator-Timestamp and X-Orchestrator-Signature: sha256=<HMAC of "<timestamp>.<raw body>">. */
export async function POST(request: Request, { params }: { params: Promise<{ workflowId: string }> }) {
  return hookRoute(request, (await params).workflowId);
}
