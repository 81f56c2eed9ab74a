import { z } from "zod";
import { MAX_DEFINITION_BYTES, WorkflowDefinitionSchema } from "@/lib/workflow/schema";
import { RunListQuery } from "@/lib/runner/run-filter";
import type { V1RouteKey } from "./v1-routes";

/**
 * The REST API's requests and answers as zod schemas: the route handlers validate path params, query and body
 * with them, and the OpenAPI document (lib/api/openapi.ts) is generated from them. One entry per route of
 * V1_ROUTES (the type makes it complete).
 */

/** Bodies of most requests (the run input, a decision): as for webhooks. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** A workflow definition may be up to MAX_DEFINITION_BYTES; the envelope around it is JSON whitespace at most. */
export const MAX_DEFINITION_BODY_BYTES = MAX_DEFINITION_BYTES + 64 * 1024;
/** How long `?wait=true` waits at most (as for webhooks), and by default. */
export const MAX_WAIT_MS = 5 * 60_000;
export const DEFAULT_WAIT_MS = 60_000;
export const MAX_RUNS_LIMIT = 500;
export const MAX_EVENTS_LIMIT = 5000;

const RUN_STATUSES = ["queued", "running", "waiting", "succeeded", "failed", "cancelled"] as const;

// ---- path params and query strings (all values arrive as text) ----

const Id = (name: string) => z.string().min(1, `${name}: required`).max(200, `${name}: at most 200 characters`);
const WorkflowParams = z.strictObject({ id: Id("id") });
const RunParams = z.strictObject({ runId: Id("runId") });

const Bool = (name: string) => z.enum(["true", "false"], { message: `${name}: true or false` }).transform((v) => v === "true");
const Int = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name}: a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `${name}: at least ${min}`).max(max, `${name}: at most ${max}`));

const WaitQuery = z.strictObject({
  wait: Bool("wait").optional().describe("answer when the run ends or waits (200 with the result), or 202 when `timeout` passes first"),
  timeout: Int("timeout", 0, MAX_WAIT_MS).optional().describe(`how long ?wait=true waits, in ms (default ${DEFAULT_WAIT_MS}, at most ${MAX_WAIT_MS})`),
});

// ---- bodies ----

/** A definition (format v1, or the simple `{ id, name, steps }` form); validated in full by the workflow validator. */
export const DefinitionBody = WorkflowDefinitionSchema;
export const RunInputBody = z.unknown().describe("the run input, checked against the workflow's input schema (an empty body is no input)");
export const ResumeBody = z.strictObject({
  useLatestVersion: z.boolean({ message: "useLatestVersion: true or false" }).optional().describe("run the rest on the workflow's latest saved version"),
  checkpointId: z.string().min(1, "checkpointId: not empty").max(200, "checkpointId: at most 200 characters").optional().describe("go back to this checkpoint and re-run everything after it"),
});
export const ApproveBody = z.strictObject({
  approved: z.boolean({ message: "approved: true or false" }).optional().describe("false rejects (the approval step fails with REJECTED); default true"),
  data: z.unknown().optional().describe("the approver's input, matching the approval step's form"),
  comment: z.string({ message: "comment: a text" }).max(2000, "comment: at most 2000 characters").optional(),
});
export const EmptyBody = z.strictObject({});

// ---- answers ----

const DateTime = z.iso.datetime();
const Status = z.enum(RUN_STATUSES);

export const IssueSchema = z.object({
  code: z.string(),
  message: z.string(),
  stepId: z.string().optional(),
  field: z.string().optional().describe("where: a definition's field, or `body.<field>`, `query.<name>`, `path.<name>` for a request"),
  edgeIndex: z.number().int().optional(),
});

export const SerializedErrorSchema = z.object({ code: z.string(), message: z.string(), stepId: z.string().optional() });

/** Every refusal and failure: `{ error: { code, message, issues? } }` (never a stack trace). */
export const ErrorBody = z.object({
  error: z.object({
    code: z.string().describe("stable: UNAUTHORIZED, FORBIDDEN, NOT_FOUND, INVALID_INPUT, INVALID_DEFINITION, CONFLICT, PAYLOAD_TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, …"),
    message: z.string().describe("what is wrong and what to do"),
    stepId: z.string().optional(),
    issues: z.array(IssueSchema).optional().describe("every problem found, by field"),
  }),
});

const WorkflowSummary = z.object({
  id: z.string(),
  name: z.string(),
  latestVersion: z.number().int(),
  updatedAt: DateTime,
  ownerId: z.string(),
  ownerName: z.string(),
  mine: z.boolean(),
});

const WorkflowDetail = z.object({
  id: z.string(),
  name: z.string(),
  version: z.number().int(),
  definition: WorkflowDefinitionSchema,
  versions: z.array(z.object({ version: z.number().int(), createdAt: DateTime })),
  ownerId: z.string(),
  access: z.enum(["edit", "view"]),
});

const Saved = z.object({ workflowId: z.string(), version: z.number().int() });

const RunStarted = z.object({ runId: z.string(), status: Status });
const RunPending = z.object({ runId: z.string(), status: Status, message: z.string().describe("the run is still going at the time limit") });

export const RunResultSchema = z.object({
  runId: z.string(),
  status: Status,
  outputs: z.record(z.string(), z.unknown()).describe("each step's latest output"),
  error: SerializedErrorSchema.optional(),
});

const RunSummary = z.object({
  runId: z.string(),
  workflowId: z.string(),
  workflowName: z.string(),
  workflowVersion: z.number().int().nullable(),
  status: Status,
  source: z.string().describe("web, cli, api, webhook or workflow"),
  trigger: z.string().describe("what started it: ui, cli, api, webhook, schedule, fork or workflow (a sub-workflow's run)"),
  createdAt: DateTime,
  startedAt: DateTime.nullable(),
  finishedAt: DateTime.nullable(),
  durationMs: z.number().nullable(),
  costUsd: z.number().nullable(),
  totalTokens: z.number().nullable(),
  forkOf: z.string().nullable(),
  resumed: z.boolean(),
  resumeCount: z.number().int().describe("how often it was resumed by hand"),
  resumedAt: DateTime.nullable(),
  queueReason: z.string().nullable().describe("why a queued run has not started yet, e.g. waiting for a concurrency slot; null otherwise"),
});

const StepRecord = z.looseObject({
  stepId: z.string(),
  stepType: z.string(),
  execution: z.number().int(),
  status: Status,
  input: z.unknown(),
  output: z.unknown(),
  error: SerializedErrorSchema.nullable(),
  attempts: z.number().int(),
  logs: z.array(z.object({ level: z.string(), text: z.string() })),
  startedAt: DateTime.nullable(),
  finishedAt: DateTime.nullable(),
  durationMs: z.number().nullable(),
});

const RunDetail = RunSummary.extend({
  parent: z.object({ runId: z.string(), checkpointId: z.string().nullable(), stepId: z.string().nullable() }).nullable(),
  forks: z.array(z.looseObject({ runId: z.string(), status: Status })),
  subRuns: z.array(z.looseObject({ runId: z.string(), status: Status, stepId: z.string() })),
  latestWorkflowVersion: z.number().int().nullable(),
  canControl: z.boolean().describe("whether you may cancel, resume or approve it"),
  input: z.unknown(),
  outputs: z.record(z.string(), z.unknown()).nullable(),
  error: SerializedErrorSchema.nullable(),
  definition: z.unknown(),
  lastSeq: z.number().int(),
  steps: z.array(StepRecord),
});

const RunEvent = z.looseObject({
  runId: z.string(),
  seq: z.number().int(),
  at: DateTime,
  type: z.enum(["run.status", "step.status", "step.retry", "step.throttle", "step.log"]),
});

const RunEvents = z.object({
  status: Status,
  events: z.array(RunEvent),
  lastSeq: z.number().int().describe("the seq of the last event returned (the `after` asked for when none): ask for the events after it next"),
  more: z.boolean().describe("whether more events follow beyond `limit`"),
});

const Cancelled = z.object({ runId: z.string(), status: Status.describe("cancelled, how it ended if it was already over, or running while it stops") });

const WebhookCreated = z.object({
  token: z.string().describe("shown this once"),
  secret: z.string().describe("HMAC-SHA256 key for signed calls, shown this once"),
  path: z.string(),
  url: z.string().describe("POST here to start a run (token in the path)"),
  signedUrl: z.string().describe("POST here with X-Orchestrator-Signature"),
});

const OpenApiDocument = z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) });

// ---- the contract: per route ----

export interface V1Contract {
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** `schema` documents the body; `parse: false` leaves checking to the handler (definitions, run input). */
  body?: { schema: z.ZodType; parse: boolean; required: boolean; maxBytes: number; description: string };
  /** The answers besides the errors: status → schema. */
  responses: Record<number, { schema: z.ZodType; description: string }>;
}

const json = (schema: z.ZodType, description: string) => ({ schema, description });
const definitionBody = { schema: DefinitionBody, parse: false, required: true, maxBytes: MAX_DEFINITION_BODY_BYTES, description: "a workflow definition (format v1 or the simple form)" } as const;
const runResult = { 200: json(RunResultSchema, "the run ended or waits (with ?wait=true)"), 202: json(RunStarted.or(RunPending), "started (or still going at the time limit of ?wait=true)") };

export const V1_CONTRACT = {
  openapi: { query: EmptyBody, responses: { 200: json(OpenApiDocument, "the OpenAPI 3.1 document") } },
  listWorkflows: { query: EmptyBody, responses: { 200: json(z.object({ workflows: z.array(WorkflowSummary) }), "the workflows") } },
  createWorkflow: { query: EmptyBody, body: definitionBody, responses: { 201: json(Saved, "created, version 1") } },
  getWorkflow: {
    params: WorkflowParams,
    query: z.strictObject({ version: Int("version", 1, 1_000_000_000).optional().describe("a saved version (default the latest)") }),
    responses: { 200: json(WorkflowDetail, "the workflow") },
  },
  updateWorkflow: { params: WorkflowParams, query: EmptyBody, body: definitionBody, responses: { 200: json(Saved, "saved as the new latest version") } },
  deleteWorkflow: { params: WorkflowParams, query: EmptyBody, responses: { 200: json(z.object({ workflowId: z.string(), deleted: z.literal(true) }), "deleted") } },
  startRun: {
    params: WorkflowParams,
    query: WaitQuery,
    body: { schema: RunInputBody, parse: false, required: false, maxBytes: MAX_BODY_BYTES, description: "the run input" },
    responses: runResult,
  },
  enableWebhook: { params: WorkflowParams, query: EmptyBody, responses: { 201: json(WebhookCreated, "enabled; token and secret shown this once") } },
  listRuns: {
    query: RunListQuery,
    responses: {
      200: json(
        z.object({ runs: z.array(RunSummary), nextCursor: z.string().nullable().describe("pass as `cursor` for the next page; null on the last page") }),
        "the runs, one page",
      ),
    },
  },
  getRun: { params: RunParams, query: EmptyBody, responses: { 200: json(RunDetail, "the run") } },
  listRunEvents: {
    params: RunParams,
    query: z.strictObject({
      after: Int("after", 0, Number.MAX_SAFE_INTEGER).optional().describe("only events with a larger seq (default 0: all)"),
      limit: Int("limit", 1, MAX_EVENTS_LIMIT).optional().describe(`at most this many (default and most ${MAX_EVENTS_LIMIT})`),
    }),
    responses: { 200: json(RunEvents, "the events, in seq order") },
  },
  cancelRun: {
    params: RunParams,
    query: WaitQuery,
    body: { schema: EmptyBody, parse: true, required: false, maxBytes: MAX_BODY_BYTES, description: "nothing (or {})" },
    responses: { 200: json(Cancelled, "cancel requested (with ?wait=true: the status once it stopped or the time is up)") },
  },
  resumeRun: {
    params: RunParams,
    query: WaitQuery,
    body: { schema: ResumeBody, parse: true, required: false, maxBytes: MAX_BODY_BYTES, description: "how to resume (default: from the failed step, on the version it ran)" },
    responses: runResult,
  },
  approveRun: {
    params: RunParams,
    query: WaitQuery,
    body: { schema: ApproveBody, parse: true, required: false, maxBytes: MAX_BODY_BYTES, description: "the decision" },
    responses: runResult,
  },
} satisfies Record<V1RouteKey, V1Contract>;
