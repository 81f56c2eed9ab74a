import { NextResponse, type NextRequest } from "next/server";
import { refusal } from "@/lib/engine/errors";
import { findExcessNesting, MAX_JSON_DEPTH_CEILING, MAX_JSON_DEPTH_ENV } from "@/lib/workflow/limits";

/**
 * Server actions: React decodes an action's arguments recursively, once per level, before the action runs;
 * arguments nested ~5,000 levels deep overflow the stack inside Next, which answers 500 with a RangeError our
 * code never sees. This proxy runs first for requests that call an action (`Next-Action` header) and answers
 * 400 when a JSON row of the body is nested deeper than the highest nesting limit one can configure plus the
 * levels the action envelope adds (argument list, a wrapper object). Anything below that reaches the action,
 * whose own check (validateWorkflow, validateRunInput, …) names the step and field against the actual limit.
 */
export const ACTION_NESTING_GATE = MAX_JSON_DEPTH_CEILING + 4;

export async function proxy(request: NextRequest) {
  if (request.method !== "POST") return NextResponse.next();
  const { rows, form } = await bodyRows(request);
  for (const row of rows) {
    let value: unknown;
    try {
      value = JSON.parse(row); // iterative: safe at any depth
    } catch {
      // A form's fields may be text; a text body is the arguments' JSON, which React would fail to parse (a 500).
      if (form) continue;
      const { status, body } = refusal("INVALID_INPUT", "the server action's arguments are not valid JSON: call actions from the app (or send what React's encodeReply writes)");
      return NextResponse.json(body, { status });
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
async function bodyRows(request: NextRequest): Promise<{ rows: string[]; form: boolean }> {
  const type = request.headers.get("content-type") ?? "";
  if (/^(multipart\/form-data|application\/x-www-form-urlencoded)/i.test(type)) {
    const form = await request.formData().catch(() => null);
    return { rows: form ? [...form.values()].filter((value): value is string => typeof value === "string") : [], form: true };
  }
  return { rows: [await request.text()], form: false };
}

export const config = {
  // Only action calls: pages, API routes (webhooks) and static files never pass through here.
  matcher: [{ source: "/:path*", has: [{ type: "header", key: "next-action" }] }],
};
