import ipaddr from "ipaddr.js";
import { CLIENT_IP_HEADER } from "@/lib/auth/auth";
import { authenticate } from "@/lib/auth/request";
import { atLeast } from "@/lib/auth/roles";
import { needsSetup } from "@/lib/auth/users";
import type { Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import type { Auth } from "@/lib/auth/auth";

/**
 * Who may read GET /metrics: an admin or the owner (`Authorization: Bearer <API token>`, or their session). On a
 * fresh install, before the owner is set up (no one can sign in, so no one can hold a token), a client on the
 * loopback interface may read it without one, so a local Prometheus works from the first start. Throws
 * UNAUTHORIZED (401) or FORBIDDEN (403, a user below admin).
 */
export async function requireMetricsAccess(deps: { db: Db; auth: Auth }, headers: Headers): Promise<void> {
  const actor = await authenticate(deps, headers);
  if (actor) {
    if (!atLeast(actor.role, "admin")) throw new OrchestratorError("FORBIDDEN", `metrics take the admin role or higher (you are ${actor.role})`);
    return;
  }
  if (isLoopbackClient(headers.get(CLIENT_IP_HEADER)) && (await needsSetup(deps.db))) return;
  throw new OrchestratorError("UNAUTHORIZED", "metrics need an API token of an admin or the owner: send Authorization: Bearer <token> (orchestrator tokens create)");
}

/**
 * The client address server.ts put on the request (the socket's, or what trusted proxies saw; a value the client
 * sent is replaced): IPv4 as is, IPv6 as its /64 (`0:0:0:0::/64` holds ::1).
 */
export function isLoopbackClient(address: string | null): boolean {
  if (!address) return false;
  if (address === "0:0:0:0::/64") return true;
  try {
    return ipaddr.parse(address).range() === "loopback";
  } catch {
    return false;
  }
}
