import "server-only";
import { headers } from "next/headers";
import { redirect } from "next/navigation";
import { authenticate } from "@/lib/auth/request";
import { atLeast, type Actor, type Role } from "@/lib/auth/roles";
import { needsSetup } from "@/lib/auth/users";
import { OrchestratorError } from "@/lib/engine/errors";
import type { Runtime } from "@/lib/runtime";
import { RUNTIME_KEY } from "@/lib/runtime-key";

/**
 * The runtime server.ts started (database, runner, auth). Pages and actions only look it up: bundling the
 * runner into Next's output would create a second runner and database client.
 */
export function serverRuntime(): Promise<Runtime> {
  const runtime = (globalThis as { [RUNTIME_KEY]?: Promise<Runtime> })[RUNTIME_KEY];
  if (!runtime) throw new Error("The orchestrator runtime is not started: run the app with `npm start` (server.ts), not `next start`.");
  return runtime;
}

/** What a page or action works with: the runtime and the user asking (`userId` is theirs). */
export type RequestContext = Runtime & { actor: Actor; userId: string };

/** The user of the current request (session cookie or API token), or null. */
export async function requestActor(): Promise<Actor | null> {
  return authenticate(await serverRuntime(), await headers());
}

/**
 * For actions and routes: the signed-in user with at least `role`, else UNAUTHORIZED (no or a bad session) or
 * FORBIDDEN (the role is too low).
 */
export async function requireActor(role: Role = "viewer"): Promise<RequestContext> {
  const runtime = await serverRuntime();
  const actor = await authenticate(runtime, await headers());
  if (!actor) throw new OrchestratorError("UNAUTHORIZED", "sign in first (your session may have ended)");
  if (!atLeast(actor.role, role)) throw new OrchestratorError("FORBIDDEN", `this takes the ${role} role or higher (you are ${actor.role})`);
  return { ...runtime, actor, userId: actor.id };
}

/**
 * For pages: the signed-in user, or a redirect — to the first-run setup while there is no owner to sign in as,
 * else to the sign-in page (coming back to `path` after).
 */
export async function pageContext(path: string, role: Role = "viewer"): Promise<RequestContext> {
  const runtime = await serverRuntime();
  const actor = await authenticate(runtime, await headers());
  if (!actor) {
    if (await needsSetup(runtime.db)) redirect("/setup");
    redirect(`/sign-in?next=${encodeURIComponent(path)}`);
  }
  if (!atLeast(actor.role, role)) redirect("/");
  return { ...runtime, actor, userId: actor.id };
}
