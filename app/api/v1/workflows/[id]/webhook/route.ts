import { publicUrl } from "@/lib/config";
import { enableHook } from "@/lib/webhooks/hooks";
import { created, v1Route } from "../../../v1-route";

export const dynamic = "force-dynamic";

/** Enables or rotates the trigger: the token and secret are in this answer only (stored hashed and sealed). */
export const POST = v1Route("enableWebhook", async ({ db, userId, params }) => {
  const hook = await enableHook(db, userId, params.id);
  return created({ ...hook, url: `${publicUrl()}${hook.path}`, signedUrl: `${publicUrl()}/api/hooks/${encodeURIComponent(params.id)}` });
});
