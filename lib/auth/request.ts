import type { Db } from "@/lib/db";
import { actorById } from "./access";
import type { Auth } from "./auth";
import type { Actor } from "./roles";
import { actorFromToken } from "./users";

/**
 * The one place a request's user is found, for pages, server actions, route handlers and sockets alike:
 * `Authorization: Bearer <API token>`, else the sign-in session cookie. Null: anonymous.
 */
export async function authenticate(deps: { db: Db; auth: Auth }, headers: Headers): Promise<Actor | null> {
  const authorization = headers.get("authorization");
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
    return match ? actorFromToken(deps.db, match[1]!) : null;
  }
  if (!headers.get("cookie")) return null;
  const session = await deps.auth.api.getSession({ headers }).catch(() => null);
  return session ? actorById(deps.db, session.user.id).catch(() => null) : null;
}
