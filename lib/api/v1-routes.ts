import type { Role } from "@/lib/auth/roles";

/**
 * Every route of the REST API (`/api/v1`), in one list: the OpenAPI document, the route handlers' role checks and
 * the tests (the cross-user matrix enumerates them from here) read it. Pure data, no server code: anything may
 * import it. A route added under app/api/v1 without an entry here fails lib/api/v1-routes.test.ts.
 */

export const V1_BASE = "/api/v1";

export type V1Method = "GET" | "POST" | "PUT" | "DELETE";

/** What a path parameter names: another user's object of that kind must answer 404. */
export type V1ParamKind = "workflow" | "run";

export interface V1Route {
  /** The OpenAPI operationId. */
  key: string;
  method: V1Method;
  /** The path under /api/v1, OpenAPI style (`/workflows/{id}`). */
  path: string;
  /** The least role that may call it: lower roles get 403 FORBIDDEN (and no role, 401). */
  minRole: Role;
  /** The object each `{param}` names. */
  params: Record<string, V1ParamKind>;
  /** The answer's status when all goes well. */
  success: number;
  summary: string;
  /** A request that would be valid if the params named objects the caller may change (query and JSON body). */
  example: { query?: Record<string, string>; body?: unknown };
}

const exampleDefinition = { id: "wf_example", name: "Example", steps: [{ id: "greet", type: "transform", config: { output: "hello {{ input.name }}" } }] };

export const V1_ROUTES = [
  { key: "openapi", method: "GET", path: "/openapi.json", minRole: "viewer", params: {}, success: 200, summary: "This document (OpenAPI 3.1)", example: {} },
  { key: "listWorkflows", method: "GET", path: "/workflows", minRole: "viewer", params: {}, success: 200, summary: "The workflows you can see, newest change first", example: {} },
  {
    key: "createWorkflow",
    method: "POST",
    path: "/workflows",
    minRole: "editor",
    params: {},
    success: 201,
    summary: "Create a workflow from a definition (its version 1); 409 when the id is taken",
    example: { body: exampleDefinition },
  },
  {
    key: "getWorkflow",
    method: "GET",
    path: "/workflows/{id}",
    minRole: "viewer",
    params: { id: "workflow" },
    success: 200,
    summary: "A workflow's latest saved version (or `?version=n`) with its definition and version list",
    example: {},
  },
  {
    key: "updateWorkflow",
    method: "PUT",
    path: "/workflows/{id}",
    minRole: "editor",
    params: { id: "workflow" },
    success: 200,
    summary: "Save a definition as the workflow's new latest version (its `id` must be the path's)",
    example: { body: exampleDefinition },
  },
  {
    key: "deleteWorkflow",
    method: "DELETE",
    path: "/workflows/{id}",
    minRole: "editor",
    params: { id: "workflow" },
    success: 200,
    summary: "Delete a workflow with its versions, shares and webhook (its runs stay in the history)",
    example: {},
  },
  {
    key: "startRun",
    method: "POST",
    path: "/workflows/{id}/runs",
    minRole: "editor",
    params: { id: "workflow" },
    success: 202,
    summary: "Run the latest saved version; the body is the run input. `?wait=true`: answer with the result when the run ends or waits (200), or 202 at the time limit",
    example: { body: { name: "ada" } },
  },
  {
    key: "enableWebhook",
    method: "POST",
    path: "/workflows/{id}/webhook",
    minRole: "editor",
    params: { id: "workflow" },
    success: 201,
    summary: "Enable (or rotate) the workflow's webhook trigger; its token and HMAC secret are returned this once",
    example: {},
  },
  {
    key: "listRuns",
    method: "GET",
    path: "/runs",
    minRole: "viewer",
    params: {},
    success: 200,
    summary: "The runs you can see, newest first, a page at a time (filters: workflow, status, trigger, dates, duration, cost, search; sort; cursor)",
    example: { query: { limit: "10" } },
  },
  { key: "getRun", method: "GET", path: "/runs/{runId}", minRole: "viewer", params: { runId: "run" }, success: 200, summary: "A run: status, input, outputs, error and every step execution", example: {} },
  {
    key: "listRunEvents",
    method: "GET",
    path: "/runs/{runId}/events",
    minRole: "viewer",
    params: { runId: "run" },
    success: 200,
    summary: "A run's stored events in order, after `?after=<seq>`",
    example: { query: { after: "0" } },
  },
  {
    key: "cancelRun",
    method: "POST",
    path: "/runs/{runId}/cancel",
    minRole: "editor",
    params: { runId: "run" },
    success: 200,
    summary: "Cancel a queued, running or waiting run (`?wait=true`: until it has stopped)",
    example: {},
  },
  {
    key: "resumeRun",
    method: "POST",
    path: "/runs/{runId}/resume",
    minRole: "editor",
    params: { runId: "run" },
    success: 202,
    summary: "Resume a failed or cancelled run from its failed step (or a stopped one from its last checkpoint); `?wait=true` as for starting a run",
    example: { body: {} },
  },
  {
    key: "approveRun",
    method: "POST",
    path: "/runs/{runId}/approve",
    minRole: "editor",
    params: { runId: "run" },
    success: 202,
    summary: "Approve (or `approved: false` reject) the approval the run waits at; `?wait=true` as for starting a run",
    example: { body: { approved: true } },
  },
] as const satisfies readonly V1Route[];

export type V1RouteKey = (typeof V1_ROUTES)[number]["key"];

/** The catch-all handler under app/api/v1 (not a route of the API): JSON 401 without a token, else 404. */
export const V1_CATCH_ALL = `${V1_BASE}/[...path]`;

/** Ids to fill the params with when no real object is at hand (they name nothing: 404 to everyone). */
export const V1_EXAMPLE_IDS: Record<V1ParamKind, string> = { workflow: "wf_example", run: "run_example" };

/** A route's URL path with example ids, or with `ids` of real objects by kind. */
export function v1ExamplePath(route: Pick<V1Route, "path" | "params">, ids: Partial<Record<V1ParamKind, string>> = {}): string {
  return v1Path(route, Object.fromEntries(Object.entries(route.params).map(([name, kind]) => [name, ids[kind] ?? V1_EXAMPLE_IDS[kind]])));
}

export const v1RouteByKey = (key: V1RouteKey): V1Route => V1_ROUTES.find((route) => route.key === key)!;

/** The route's folder under app/ in Next's notation (`/api/v1/workflows/[id]`). */
export const nextAppPath = (route: Pick<V1Route, "path">) => `${V1_BASE}${route.path.replace(/\{(\w+)\}/g, "[$1]")}`;

/** The URL path of a route with its params filled in (encoded). */
export function v1Path(route: Pick<V1Route, "path">, params: Record<string, string> = {}): string {
  return `${V1_BASE}${route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name];
    if (value === undefined) throw new Error(`v1Path: missing param "${name}" for ${route.path}`);
    return encodeURIComponent(value);
  })}`;
}
