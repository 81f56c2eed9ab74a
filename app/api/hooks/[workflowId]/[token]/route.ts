import { hookRoute } from "../../handler";

export const dynamic = "force-dynamic";

/** POST /api/hooks/<workflowId>/<token>: the token shown when the trigger was enabled. */
export async function POST(request: Request, { params }: { params: Promise<{ workflowId: string; token: string }> }) {
  const { workflowId, token } = await params;
  return hookRoute(request, workflowId, token);
}
