import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { validateWorkflow } from "@/lib/workflow/validate";
import { openApiDocument } from "./openapi";
import { nextAppPath, V1_BASE, V1_CATCH_ALL, v1ExamplePath, V1_ROUTES, v1Path } from "./v1-routes";
import { DefinitionBody, V1_CONTRACT, type V1Contract } from "./v1-schemas";

/** The route list, the route handlers under app/api/v1 and the OpenAPI document describe the same API. */

const APP = path.resolve("app");
const V1_DIR = path.join(APP, "api/v1");

function routeFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? routeFiles(path.join(dir, entry.name)) : entry.name === "route.ts" ? [path.join(dir, entry.name)] : [],
  );
}

const exportedMethods = (file: string) => [...readFileSync(file, "utf8").matchAll(/export const (GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\b/g)].map((m) => m[1]);
const appPathOf = (file: string) => `/${path.relative(APP, path.dirname(file)).split(path.sep).join("/")}`;

describe("REST API v1 routes", () => {
  it("every listed route has a handler under app/api/v1, and every handler there is listed", () => {
    const handlers = new Set(routeFiles(V1_DIR).filter((file) => appPathOf(file) !== V1_CATCH_ALL).flatMap((file) => exportedMethods(file).map((method) => `${method} ${appPathOf(file)}`)));
    const listed = new Set(V1_ROUTES.map((route) => `${route.method} ${nextAppPath(route)}`));
    expect([...handlers].sort()).toEqual([...listed].sort());
    expect(new Set(V1_ROUTES.map((route) => route.key)).size).toBe(V1_ROUTES.length);
    expect(routeFiles(V1_DIR).map(appPathOf)).toContain(V1_CATCH_ALL);
  });

  it("each route's params are its path's, with a schema for each; examples are valid requests", () => {
    for (const route of V1_ROUTES) {
      const contract: V1Contract = V1_CONTRACT[route.key];
      const inPath = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      expect(Object.keys(route.params), route.key).toEqual(inPath);
      expect(Object.keys(contract.params?.shape ?? {}), route.key).toEqual(inPath);
      expect(v1Path(route, Object.fromEntries(inPath.map((name) => [name, "a b"])))).toBe(`${V1_BASE}${route.path.replace(/\{\w+\}/g, "a%20b")}`);
      expect(v1ExamplePath(route, { run: "run_1" })).toBe(`${V1_BASE}${route.path.replace("{id}", "wf_example").replace("{runId}", "run_1")}`);
      const example = route.example as { query?: Record<string, string>; body?: unknown };
      expect(contract.query?.safeParse(example.query ?? {}).success, route.key).toBe(true);
      if (!contract.body) expect(example.body, route.key).toBeUndefined();
      else if (contract.body.schema === DefinitionBody) expect(validateWorkflow(example.body).issues, route.key).toEqual([]);
      else if (contract.body.parse) expect(contract.body.schema.safeParse(example.body ?? {}).success, route.key).toBe(true);
    }
  });

  it("the OpenAPI 3.1 document lists every route with its schemas, the bearer scheme and the error shape", () => {
    const doc = openApiDocument() as {
      openapi: string;
      paths: Record<string, Record<string, { operationId: string; parameters: Array<{ name: string; in: string }>; requestBody?: unknown; responses: Record<string, unknown> }>>;
      components: { securitySchemes: Record<string, unknown>; schemas: Record<string, unknown> };
      security: unknown;
    };
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: "http", scheme: "bearer" }));
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.components.schemas.Error).toMatchObject({ properties: { error: { required: ["code", "message"], properties: { issues: { type: "array" } } } } });
    const operations = Object.entries(doc.paths).flatMap(([p, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${p}`));
    expect(operations.sort()).toEqual(V1_ROUTES.map((route) => `${route.method} ${route.path}`).sort());

    // Every schema in it compiles as JSON Schema 2020-12 (what OpenAPI 3.1 uses), refs included.
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addFormat("date-time", true);
    ajv.addSchema(doc, "openapi");
    for (const route of V1_ROUTES) {
      const operation = doc.paths[route.path]![route.method.toLowerCase()]!;
      expect(operation.operationId).toBe(route.key);
      for (const name of Object.keys(route.params)) expect(operation.parameters).toContainEqual(expect.objectContaining({ name, in: "path", required: true }));
      expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining([String(route.success), "401", "403"]));
      const pointer = `openapi#/paths/${route.path.replaceAll("~", "~0").replaceAll("/", "~1")}/${route.method.toLowerCase()}`;
      for (const status of Object.keys(V1_CONTRACT[route.key].responses)) expect(() => ajv.compile({ $ref: `${pointer}/responses/${status}/content/application~1json/schema` })).not.toThrow();
      if (operation.requestBody) expect(() => ajv.compile({ $ref: `${pointer}/requestBody/content/application~1json/schema` })).not.toThrow();
    }
    const error = ajv.compile({ $ref: "openapi#/components/schemas/Error" });
    expect(error({ error: { code: "NOT_FOUND", message: "x" } })).toBe(true);
    expect(error({ error: { message: "x" } })).toBe(false);
  });
});
