import "server-only";
import { ZodError } from "zod";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import type { ValidationIssue } from "@/lib/workflow/schema";
import type { Role } from "@/lib/auth/roles";
import { requireActor, type RequestContext } from "./runtime";

/** What every server action returns: data, or a typed error the UI can show (never a stack trace). */
export type ActionResult<T extends object> =
  | ({ ok: true } & T)
  | { ok: false; code: string; message: string; issues?: ValidationIssue[] };

/**
 * Every server action runs through here: the session and the role are checked first (an action is reachable by
 * anyone who can POST to the port), then errors thrown become the result (never a stack trace).
 */
export async function runAction<T extends object>(name: string, role: Role, fn: (context: RequestContext) => Promise<T>): Promise<ActionResult<T>> {
  return answer(name, async () => fn(await requireActor(role)));
}

/** The few actions open without a session (sign-in, first-run setup): the same error handling. */
export async function runPublicAction<T extends object>(name: string, fn: () => Promise<T>): Promise<ActionResult<T>> {
  return answer(name, fn);
}

/** The one place where errors thrown on the server become responses. */
async function answer<T extends object>(name: string, fn: () => Promise<T>): Promise<ActionResult<T>> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (err) {
    if (err instanceof InvalidRunError) return { ok: false, code: err.code, message: err.message, issues: err.issues };
    if (err instanceof OrchestratorError) return { ok: false, code: err.code, message: err.message };
    if (err instanceof ZodError)
      return {
        ok: false,
        code: "INVALID_REQUEST",
        message: err.issues.map(issueText).join("; "),
      };
    logger.error({ err, action: name }, "server action failed");
    return { ok: false, code: "INTERNAL", message: "Something went wrong on the server; the details are in the server log." };
  }
}

/**
 * "field: problem". Messages that already name their field (`email: enter an address…`) keep one prefix, also
 * when a bare value was parsed (no path).
 */
function issueText(issue: ZodError["issues"][number]): string {
  const where = issue.path.join(".");
  if (where ? issue.message.startsWith(`${where}:`) : /^[\w.]+: /.test(issue.message)) return issue.message;
  return `${where || "request"}: ${issue.message}`;
}
