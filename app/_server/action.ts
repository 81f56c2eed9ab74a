import "server-only";
import { ZodError } from "zod";
import { InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import type { ValidationIssue } from "@/lib/workflow/schema";

/** What every server action returns: data, or a typed error the UI can show (never a stack trace). */
export type ActionResult<T extends object> =
  | ({ ok: true } & T)
  | { ok: false; code: string; message: string; issues?: ValidationIssue[] };

/** The one place where errors thrown on the server become responses. */
export async function runAction<T extends object>(name: string, fn: () => Promise<T>): Promise<ActionResult<T>> {
  try {
    return { ok: true, ...(await fn()) };
  } catch (err) {
    if (err instanceof InvalidRunError) return { ok: false, code: err.code, message: err.message, issues: err.issues };
    if (err instanceof OrchestratorError) return { ok: false, code: err.code, message: err.message };
    if (err instanceof ZodError)
      return {
        ok: false,
        code: "INVALID_REQUEST",
        message: err.issues.map((i) => `${i.path.join(".") || "request"}: ${i.message}`).join("; "),
      };
    logger.error({ err, action: name }, "server action failed");
    return { ok: false, code: "INTERNAL", message: "Something went wrong on the server; the details are in the server log." };
  }
}
