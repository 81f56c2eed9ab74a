import { NextResponse, type NextRequest } from "next/server";
import { refusal } from "@/lib/engine/errors";
import { hostRefusalMessage, isAllowedHost } from "@/lib/net/allowed-hosts";
import { contentSecurityPolicy } from "@/lib/net/security-headers";
import { findExcessNesting, MAX_JSON_DEPTH_CEILING, MAX_JSON_DEPTH_ENV } from "@/lib/workflow/limits";

/**
 * Runs before Next for pages and server-action calls: the Host check (as server.ts does), the pages' Content
 * Security Policy with a nonce per request, and the nesting gate of action calls.
 *
 * Server actions: React decodes an action's arguments recursively, once per level, before the action runs;
 * arguments nested ~5,000 levels deep overflow the stack inside Next, which answers 500 with a RangeError our
 * code never sees. This proxy runs first for requests that call an action (`Next-Action` header) and answers
 * 400 when a JSON row of the body is nested deeper than the highest nesting limit one can configure plus the
 * levels the action envelope adds (argument list, a wrapper object). Anything below that reaches the action,
 * whose own check (validateWorkflow, validateRunInput, …) names the step and field against the actual limit.
 */
export const ACTION_NESTING_GATE = MAX_JSON_DEPTH_CEILING + 4;

export async function proxy(request: NextRequest) {
  // server.ts checks the Host before Next; this covers the app served without it (`next start`).
  const host = request.headers.get("host");
  if (!isAllowedHost(host ?? undefined)) {
    const { status, body } = refusal("HOST_NOT_ALLOWED", hostRefusalMessage(host ?? undefined));
    return NextResponse.json(body, { status });
  }
  if (request.headers.has("next-action")) return actionGate(request);
  return withContentSecurityPolicy(request, host);
}

/**
 * Pages: a fresh nonce per request in the Content-Security-Policy, on the response and on the request Next renders
 * (Next reads the nonce from the request's CSP header and puts it on every script it writes).
 */
function withContentSecurityPolicy(request: NextRequest, host: string | null) {
  const nonce = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("base64");
  const policy = contentSecurityPolicy(nonce, host);
  const headers = new Headers(request.headers);
  headers.set("content-security-policy", policy);
  headers.set("x-nonce", nonce);
  const response = NextResponse.next({ request: { headers } });
  response.headers.set("content-security-policy", policy);
  return response;
}

async function actionGate(request: NextRequest) {
  if (request.method !== "POST") return NextResponse.next();
  for (const row of await bodyRows(request)) {
    let value: unknown;
    try {
      value = JSON.parse(row); // iterative: safe at any depth
    } catch {
      continue; // not JSON: React reads it as text or refuses it itself
    }
    if (findExcessNesting(value, ACTION_NESTING_GATE)) {
      const { status, body } = refusal(
        "INVALID_INPUT",
        `the server action's arguments are nested more than ${ACTION_NESTING_GATE} levels deep (the nesting limit, ${MAX_JSON_DEPTH_ENV}, is lower); flatten them`,
      );
      return NextResponse.json(body, { status });
    }
  }
  return NextResponse.next();
}

/** The JSON rows of an action call: the whole text body, or each text field of a multipart or urlencoded form. */
async function bodyRows(request: NextRequest): Promise<string[]> {
  const type = request.headers.get("content-type") ?? "";
  if (/^(multipart\/form-data|application\/x-www-form-urlencoded)/i.test(type)) {
    const form = await request.formData().catch(() => null);
    return form ? [...form.values()].filter((value): value is string => typeof value === "string") : [];
  }
  return [await request.text()];
}

export const config = {
  matcher: [
    // Action calls (the nesting gate).
    { source: "/:path*", has: [{ type: "header", key: "next-action" }] },
    // Pages (the CSP). Not API routes (webhooks: JSON, answered by server.ts first), static files, or prefetches.
    {
      source: "/((?!api/|_next/static|_next/image|icon.svg|favicon.ico).*)",
      missing: [
        { type: "header", key: "next-router-prefetch" },
        { type: "header", key: "purpose", value: "prefetch" },
      ],
    },
  ],
};
