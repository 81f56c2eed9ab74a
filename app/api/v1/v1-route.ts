import "server-only";
import type { z } from "zod";
import { serverRuntime } from "@/app/_server/runtime";
import { readLimitedBody } from "@/app/api/body";
import { V1_CONTRACT, type V1Contract } from "@/lib/api/v1-schemas";
import { v1RouteByKey, type V1RouteKey } from "@/lib/api/v1-routes";
import { authenticate } from "@/lib/auth/request";
import { atLeast, type Actor } from "@/lib/auth/roles";
import { errorAnswer, InvalidRunError, OrchestratorError } from "@/lib/engine/errors";
import { logger } from "@/lib/logger";
import type { Runtime } from "@/lib/runtime";
import type { ValidationIssue } from "@/lib/workflow/schema";

/**
 * The one wrapper of every REST API route (app/api/v1/**): authenticates the request (Bearer token, else the
 * session cookie), checks the route's least role, validates path params, query and body with the route's zod
 * schemas (lib/api/v1-schemas.ts) and turns whatever is thrown into `{ error: { code, message, issues? } }`
 * with its status from the one table (HTTP_STATUS through errorAnswer). Never a stack trace.
 */

type Contract<K extends V1RouteKey> = (typeof V1_CONTRACT)[K];
type Parsed<T> = T extends z.ZodType ? z.output<T> : Record<string, never>;
type BodyOf<C> = C extends { body: { schema: infer S; parse: true } } ? Parsed<S> : C extends { body: object } ? unknown : undefined;

export interface V1Context<K extends V1RouteKey> extends Runtime {
  actor: Actor;
  userId: string;
  params: Contract<K> extends { params: infer S } ? Parsed<S> : Record<string, never>;
  query: Contract<K> extends { query: infer S } ? Parsed<S> : Record<string, never>;
  /** Parsed by the route's schema, or the JSON as sent (`unknown`, undefined when empty) for bodies the handler checks. */
  body: BodyOf<Contract<K>>;
  request: Request;
}

export interface Reply {
  status: number;
  body: unknown;
}

export const ok = (body: unknown): Reply => ({ status: 200, body });
export const created = (body: unknown): Reply => ({ status: 201, body });
export const accepted = (body: unknown): Reply => ({ status: 202, body });

const HEADERS = { "cache-control": "no-store" };

const answer = (status: number, body: unknown, headers: Record<string, string> = {}) => Response.json(body, { status, headers: { ...HEADERS, ...headers } });

/** A request part that does not match its schema: 400 naming each field (`body.comment`, `query.limit`). */
function invalid(where: "path" | "query" | "body", schema: z.ZodType, error: z.ZodError): InvalidRunError {
  const allowed = (path: PropertyKey[]) => {
    const shape = path.length === 0 && "shape" in schema ? Object.keys((schema as z.ZodObject).shape) : [];
    return shape.length ? ` (allowed: ${shape.join(", ")})` : " (none are allowed here)";
  };
  const issues: ValidationIssue[] = error.issues.flatMap((issue) => {
    const at = [where, ...issue.path.map(String)];
    if (issue.code === "unrecognized_keys")
      return issue.keys.map((key) => ({ code: "INVALID_REQUEST", field: [...at, key].join("."), message: `${[...at, key].join(".")}: unknown field${allowed(issue.path)}` }));
    const field = at.join(".");
    // Our schemas' messages start with the field's name ("comment: at most 2000 characters"); zod's own do not.
    const named = at.length > 1 && issue.message.startsWith(`${at.at(-1)}:`);
    return [{ code: "INVALID_REQUEST", field, message: named ? `${at.slice(0, -1).join(".")}.${issue.message}` : `${field}: ${issue.message}` }];
  });
  return new InvalidRunError("INVALID_INPUT", issues, where === "body" ? "the request body" : where === "query" ? "the query string" : "the path");
}

function parsePart(where: "path" | "query", schema: z.ZodObject | undefined, value: Record<string, string>) {
  if (!schema) return {};
  const result = schema.safeParse(value);
  if (!result.success) throw invalid(where, schema, result.error);
  return result.data;
}

function queryObject(params: URLSearchParams): Record<string, string> {
  const query: Record<string, string> = {};
  for (const [key, value] of params) {
    if (Object.hasOwn(query, key)) throw new InvalidRunError("INVALID_INPUT", [{ code: "INVALID_REQUEST", field: `query.${key}`, message: `query.${key}: give it once` }], "the query string");
    query[key] = value;
  }
  return query;
}

const isJson = (type: string | null) => !!type && /^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type.trim());

/** The body as JSON (undefined when empty), bounded while it is read; only JSON is accepted. */
async function readJsonBody(request: Request, maxBytes: number): Promise<{ value: unknown } | { response: Response }> {
  const read = await readLimitedBody(request, maxBytes);
  if ("tooLarge" in read) return { response: read.tooLarge };
  if (!read.text.trim()) return { value: undefined };
  if (!isJson(request.headers.get("content-type")))
    throw new OrchestratorError("UNSUPPORTED_MEDIA_TYPE", "the body must be JSON: send it with Content-Type: application/json");
  try {
    return { value: JSON.parse(read.text) }; // iterative: safe at any depth; what recurses later checks nesting first
  } catch (err) {
    throw new OrchestratorError("INVALID_INPUT", `the body is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * A browser session is a cookie the browser sends by itself, so a change made with it must come from this app's
 * own pages: another site's form or script gets 403 (a token in a header cannot be sent that way).
 */
function checkSameOrigin(request: Request) {
  const site = request.headers.get("sec-fetch-site");
  const origin = request.headers.get("origin");
  const host = request.headers.get("host");
  let crossOrigin = site !== null && site !== "same-origin" && site !== "none";
  if (origin && host) {
    try {
      crossOrigin ||= new URL(origin).host !== host;
    } catch {
      crossOrigin = true;
    }
  }
  if (crossOrigin) throw new OrchestratorError("FORBIDDEN", "a change with a session cookie must come from this app's pages; API clients send Authorization: Bearer <token>");
}

type RouteContext = { params: Promise<Record<string, string | string[] | undefined>> };

export function v1Route<K extends V1RouteKey>(key: K, handler: (context: V1Context<K>) => Promise<Reply>) {
  const route = v1RouteByKey(key);
  const contract: V1Contract = V1_CONTRACT[key];
  return async (request: Request, context: RouteContext): Promise<Response> => {
    try {
      const runtime = await serverRuntime();
      const actor = await authenticate(runtime, request.headers);
      if (!actor) {
        const message = request.headers.has("authorization")
          ? "the token is unknown, revoked or malformed: send Authorization: Bearer <token> with a token from Settings → API tokens"
          : "authentication required: send Authorization: Bearer <token> (create one in Settings → API tokens or with `orchestrator tokens create`)";
        const { status, body } = errorAnswer(new OrchestratorError("UNAUTHORIZED", message));
        return answer(status, body, { "www-authenticate": 'Bearer realm="orchestrator"' });
      }
      if (!atLeast(actor.role, route.minRole))
        throw new OrchestratorError("FORBIDDEN", `${route.method} ${route.path} takes the ${route.minRole} role or higher (you are ${actor.role})`);
      if (route.method !== "GET" && !request.headers.has("authorization")) checkSameOrigin(request);

      // Next passes no params to routes without dynamic segments (typed as always there).
      const rawParams: Record<string, string | string[] | undefined> = (await (context as Partial<RouteContext> | undefined)?.params) ?? {};
      const params = parsePart("path", contract.params, Object.fromEntries(Object.entries(rawParams).map(([k, v]) => [k, String(v)])));
      const query = parsePart("query", contract.query, queryObject(new URL(request.url).searchParams));
      let body: unknown = undefined;
      if (contract.body) {
        const spec = contract.body;
        const read = await readJsonBody(request, spec.maxBytes);
        if ("response" in read) return read.response;
        if (read.value === undefined && spec.required)
          throw new InvalidRunError("INVALID_INPUT", [{ code: "INVALID_REQUEST", field: "body", message: `body: required (${spec.description}, as JSON)` }], "the request body");
        body = read.value;
        if (spec.parse) {
          const result = spec.schema.safeParse(body ?? {});
          if (!result.success) throw invalid("body", spec.schema, result.error);
          body = result.data;
        }
      }
      const reply = await handler({ ...runtime, actor, userId: actor.id, params, query, body, request } as V1Context<K>);
      return answer(reply.status, reply.body);
    } catch (err) {
      const { status, body } = errorAnswer(err);
      if (status >= 500) logger.error({ err, route: `${route.method} ${route.path}` }, "REST API request failed");
      return answer(status, body);
    }
  };
}

/** Any other path under /api/v1: 401 to anonymous callers as everywhere, else 404 pointing at the document. */
export async function v1NotFound(request: Request): Promise<Response> {
  try {
    const actor = await authenticate(await serverRuntime(), request.headers);
    const error = actor
      ? new OrchestratorError("NOT_FOUND", `no API route ${request.method} ${new URL(request.url).pathname}: the routes are listed in /api/v1/openapi.json`)
      : new OrchestratorError("UNAUTHORIZED", "authentication required: send Authorization: Bearer <token>");
    const { status, body } = errorAnswer(error);
    return answer(status, body, actor ? {} : { "www-authenticate": 'Bearer realm="orchestrator"' });
  } catch (err) {
    logger.error({ err }, "REST API request failed");
    const { status, body } = errorAnswer(err);
    return answer(status, body);
  }
}
