import { z } from "zod";
import { DefinitionBody, ErrorBody, V1_CONTRACT, type V1Contract } from "./v1-schemas";
import { V1_BASE, V1_ROUTES } from "./v1-routes";

/**
 * The OpenAPI 3.1 document of the REST API, generated from the route list and the zod schemas the handlers
 * validate with (served at /api/v1/openapi.json). OpenAPI 3.1 schemas are JSON Schema 2020-12, which is what
 * `z.toJSONSchema` writes: requests are described as they are sent (`io: "input"`), answers as they come.
 */

type JsonSchema = Record<string, unknown>;

function toJsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: "draft-2020-12", io, unrepresentable: "any", override: quiet }) as JsonSchema;
  return rest;
}

/** Leaves out what only restates the type: the regular expression behind `date-time`, the safe-integer range. */
function quiet({ jsonSchema: schema }: { jsonSchema: JsonSchema }) {
  if (schema.format === "date-time") delete schema.pattern;
  if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
  if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
}

/** A definition is described once, in components (it is large). */
const jsonSchema = (schema: z.ZodType, io: "input" | "output"): JsonSchema =>
  schema === DefinitionBody ? { $ref: "#/components/schemas/WorkflowDefinition" } : toJsonSchema(schema, io);

const ERROR_STATUSES: Record<number, string> = {
  400: "invalid request: the message and `issues` name each field",
  401: "no token, or an unknown or revoked one",
  403: "your role (or your access to this object) does not allow it",
  404: "no such object, or not one you can see",
  409: "the object's state does not allow it now (or the id is taken)",
  413: "the body is larger than the limit",
  415: "the body is not JSON (send Content-Type: application/json)",
  429: "too many requests",
  500: "the server failed; the details are in its log",
};

function errorsFor(route: (typeof V1_ROUTES)[number]): number[] {
  const contract: V1Contract = V1_CONTRACT[route.key];
  const statuses = [400, 401, 403, 429, 500];
  if (Object.keys(route.params).length) statuses.push(404);
  if (route.method !== "GET") statuses.push(409);
  if (contract.body) statuses.push(413, 415);
  return statuses.sort();
}

function parameters(where: "path" | "query", schema: z.ZodObject | undefined) {
  if (!schema) return [];
  return Object.entries(schema.shape).map(([name, field]) => {
    const type = field as z.ZodType;
    const { description, ...rest } = jsonSchema(type, "input");
    return { name, in: where, required: where === "path" || !type.safeParse(undefined).success, ...(description ? { description } : {}), schema: rest };
  });
}

let cached: JsonSchema | undefined;

export function openApiDocument(): JsonSchema {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of V1_ROUTES) {
    const contract: V1Contract = V1_CONTRACT[route.key];
    const responses: Record<string, unknown> = {};
    for (const [status, { schema, description }] of Object.entries(contract.responses))
      responses[status] = { description, content: { "application/json": { schema: jsonSchema(schema, "output") } } };
    for (const status of errorsFor(route)) responses[status] = { $ref: `#/components/responses/Error${status}` };
    (paths[route.path] ??= {})[route.method.toLowerCase()] = {
      operationId: route.key,
      summary: route.summary,
      description: `Takes the ${route.minRole} role or higher.`,
      tags: [route.path.split("/")[1]!.replace(".json", "")],
      "x-min-role": route.minRole,
      parameters: [...parameters("path", contract.params), ...parameters("query", contract.query)],
      ...(contract.body
        ? {
            requestBody: {
              required: contract.body.required,
              description: `${contract.body.description} (JSON, at most ${contract.body.maxBytes} bytes)`,
              content: { "application/json": { schema: jsonSchema(contract.body.schema, "input") } },
            },
          }
        : {}),
      responses,
    };
  }
  cached = {
    openapi: "3.1.0",
    info: {
      title: "LLM Orchestrator REST API",
      version: "1",
      description:
        "Workflows, runs and webhooks. Authenticate with `Authorization: Bearer <token>` (Settings → API tokens, or `orchestrator tokens create`); a token acts as its user, with the user's role. Errors are `{ error: { code, message, issues? } }`.",
    },
    servers: [{ url: V1_BASE }],
    security: [{ bearerAuth: [] }],
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "an API token (`orc_…`); a signed-in browser session works too" },
      },
      schemas: {
        Error: jsonSchema(ErrorBody, "output"),
        WorkflowDefinition: toJsonSchema(DefinitionBody, "input"),
      },
      responses: Object.fromEntries(
        Object.entries(ERROR_STATUSES).map(([status, description]) => [
          `Error${status}`,
          { description, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } },
        ]),
      ),
    },
  };
  return cached;
}
