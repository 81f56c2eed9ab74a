import { NextResponse, type NextRequest } from "next/server";
import { refusal } from "@/lib/engine/errors";
import { hostRefusalMessage, isAllowedHost } from "@/lib/net/allowed-hosts";
import { contentSecurityPolicy } from "@/lib/net/security-headers";
import { findExcessNesting, MAX_JSON_DEPTH_CEILING, MAX_JSON_DEPTH_ENV } from "@/lib/workflow/limits";

/**
 * Runs before Next for pages and server-action calls: the Host check (as server.ts does), the pages' Content
 * Security Policy with a nonce per request, and the gate of action calls.
 *
 * Server actions: React decodes an action's arguments before the action runs, and what it cannot decode becomes
 * a 500 our code never sees — arguments nested ~5,000 levels deep overflow the stack (its decoder recurses once per
 * level), a body that is not JSON throws, a reference to a part the body does not have fails when the body ends.
 * This proxy runs first for requests that call an action (`Next-Action` header; Next buffers the body for it) and
 * answers 400 for each: a form body, text that is not JSON, JSON nested deeper than the highest nesting limit one
 * can configure plus the levels the action envelope adds (argument list, a wrapper object), and dangling
 * references. Anything else reaches the action, whose own checks (validateWorkflow, validateRunInput, …) name the
 * step and field against the actual limits.
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
  const type = request.headers.get("content-type") ?? "";
  // React sends an action's arguments as one JSON text unless they hold Blobs, Maps, Sets, FormData or streams,
  // which it puts in form parts — none of our actions takes those, and a form's parts can refer to each other in
  // ways React's decoder answers with a 500 (a missing part, a Map that is not a list of entries).
  if (/^(multipart\/form-data|application\/x-www-form-urlencoded)/i.test(type)) return refuse("the server action's arguments come as a form; actions here take plain JSON arguments (call them from the app)");
  const text = await request.text();
  let value: unknown;
  try {
    value = JSON.parse(text); // iterative: safe at any depth
  } catch {
    // React's decoder would throw on it (a 500).
    return refuse("the server action's arguments are not valid JSON: call actions from the app (or send what React's encodeReply writes)");
  }
  if (findExcessNesting(value, ACTION_NESTING_GATE))
    return refuse(`the server action's arguments are nested more than ${ACTION_NESTING_GATE} levels deep (the nesting limit, ${MAX_JSON_DEPTH_ENV}, is lower); flatten them`);
  const reference = danglingReference(value);
  if (reference !== undefined)
    return refuse(`the server action's arguments refer to a part the request does not have (${JSON.stringify(reference.slice(0, 40))}); a string starting with $ is sent as $$`);
  return NextResponse.next();
}

function refuse(message: string) {
  const { status, body } = refusal("INVALID_INPUT", message);
  return NextResponse.json(body, { status });
}

/**
 * In React's reply encoding a string starting with `$` is a reference: to another part of a multipart body (an
 * outlined object, a Map, a Set, a Blob, a promise, a server function…) or a value JSON has no form for. A text
 * body has no other parts, so only the self-contained forms are valid there; React's decoder waits for a missing
 * part until the body ends and then throws ("Connection closed": a 500). The first dangling one, or undefined.
 */
const SELF_CONTAINED = /^\$(\$|undefined$|NaN$|Infinity$|-Infinity$|-0$|n-?\d+$|D)/;

function danglingReference(value: unknown): string | undefined {
  const stack: unknown[] = [value];
  while (stack.length) {
    const next = stack.pop();
    if (typeof next === "string") {
      if (next.startsWith("$") && !SELF_CONTAINED.test(next)) return next;
    } else if (next !== null && typeof next === "object") {
      for (const item of Object.values(next)) stack.push(item);
    }
  }
  return undefined;
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
