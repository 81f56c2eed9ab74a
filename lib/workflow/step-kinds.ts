import "@/lib/zod-browser"; // before any parse: no eval probe under the CSP
import { z } from "zod";
import { StepSchema } from "./schema";

/**
 * The one registry of step kinds' pure facts: the palette, the inspector form, the validator and the engine all
 * read it. The server executor of each kind lives in lib/engine/steps/<kind>.ts, its canvas look in
 * components/steps/. Adding a kind = one entry here + one executor + one client entry.
 */

export const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] as const;

/** Template strings ("Hello {{ input.name }}") are allowed wherever a number is expected. */
const numberOrTemplate = z.union([z.number(), z.string().regex(/\{\{[\s\S]*\}\}/, "a number or a {{ template }}")]);

export type FieldType = "text" | "textarea" | "number" | "json" | "expression" | "select" | "code" | "model";

export interface FieldSpec {
  name: string;
  label: string;
  type: FieldType;
  required?: boolean;
  placeholder?: string;
  help?: string;
  /** Choices of a `select` field. */
  options?: string[];
}

export interface StepKindSpec {
  kind: string;
  label: string;
  description: string;
  /** Single-letter or short glyph shown on the node and in the palette. */
  icon: string;
  /** Tailwind color family used for the node accent. */
  color: string;
  configSchema: z.ZodType<Record<string, unknown>>;
  defaultConfig: Record<string, unknown>;
  fields: FieldSpec[];
  /** Config fields holding a bare expression (evaluated by the executor), not a template string. */
  expressionFields: string[];
  /** Config fields passed to the executor as written: neither templates nor expressions (e.g. source code). */
  rawFields?: string[];
  /** Only condition steps route along `when` edges. */
  routes: boolean;
}

export const stepKinds = {
  llm: {
    kind: "llm",
    label: "LLM",
    description: "Call a language model through the OpenAI-compatible gateway; streams tokens.",
    icon: "✦",
    color: "violet",
    configSchema: z
      .object({
        prompt: z.string().optional(),
        model: z.string().optional(),
        system: z.string().optional(),
        messages: z
          .array(z.object({ role: z.enum(["system", "user", "assistant"], { error: "role must be system, user or assistant" }), content: z.string() }), {
            error: 'messages must be a list of { "role": "system" | "user" | "assistant", "content": "…" }',
          })
          .optional(),
        temperature: numberOrTemplate.optional(),
        maxTokens: numberOrTemplate.optional(),
        stop: z.array(z.string(), { error: 'stop must be a list of strings, e.g. ["\\n\\n"]' }).max(4, "at most 4 stop sequences").optional(),
        responseSchema: z.record(z.string(), z.unknown(), { error: "responseSchema must be a JSON Schema object" }).optional(),
      })
      .refine((c) => Boolean(c.prompt) || Boolean(c.messages?.length), { message: "prompt is required (or messages): write what the model should do", path: ["prompt"] }),
    // No model: the step uses the default model (Settings or LLM_DEFAULT_MODEL), whatever gateway is configured.
    defaultConfig: { prompt: "" },
    fields: [
      { name: "model", label: "Model (empty: the default model from Settings)", type: "model", placeholder: "default model" },
      { name: "system", label: "System prompt", type: "textarea" },
      { name: "prompt", label: "Prompt", type: "textarea", required: true, placeholder: "Summarise {{ input.topic }}" },
      { name: "messages", label: "Messages (instead of prompt: system/user/assistant turns)", type: "json", help: '[{ "role": "user", "content": "Hi {{ input.name }}" }]' },
      { name: "temperature", label: "Temperature", type: "number" },
      { name: "maxTokens", label: "Max tokens", type: "number" },
      { name: "stop", label: "Stop sequences (JSON list)", type: "json", help: '["\\n\\n"]' },
      { name: "responseSchema", label: "Structured output (JSON Schema: the parsed JSON becomes the output)", type: "json", help: '{ "type": "object", "properties": { "title": { "type": "string" } }, "required": ["title"] }' },
    ],
    expressionFields: [],
    rawFields: ["responseSchema"],
    routes: false,
  },
  transform: {
    kind: "transform",
    label: "Transform",
    description: "Build a JSON value from templates over input, steps and vars.",
    icon: "⇄",
    color: "sky",
    configSchema: z.object({
      output: z.unknown().refine((v) => v !== undefined, "output is required: the JSON value to produce"),
    }),
    defaultConfig: { output: {} },
    fields: [
      {
        name: "output",
        label: "Output (JSON with {{ }} templates)",
        type: "json",
        required: true,
        help: 'e.g. { "total": "{{ input.a + input.b }}" }',
      },
    ],
    expressionFields: [],
    routes: false,
  },
  condition: {
    kind: "condition",
    label: "Condition",
    description: "Evaluate an expression and follow the true or false edge.",
    icon: "◇",
    color: "amber",
    configSchema: z.object({
      expression: z.string().min(1, "expression is required, e.g. input.score > 0.5"),
    }),
    defaultConfig: { expression: "true" },
    fields: [
      { name: "expression", label: "Expression", type: "expression", required: true, placeholder: "input.score > 0.5" },
    ],
    expressionFields: ["expression"],
    routes: true,
  },
  approval: {
    kind: "approval",
    label: "Approval",
    description: "Pause the run until a person approves or rejects it (optionally filling in a form).",
    icon: "◎",
    color: "rose",
    configSchema: z.object({
      message: z.string().min(1, "message is required: what the approver should check"),
      form: z.record(z.string(), z.unknown()).optional(),
    }),
    defaultConfig: { message: "Please review and approve." },
    fields: [
      { name: "message", label: "Message to the approver", type: "textarea", required: true, placeholder: "Approve sending {{ steps.draft.text }}?" },
      { name: "form", label: "Form (JSON Schema of the approver's input)", type: "json", help: '{ "type": "object", "properties": { "note": { "type": "string" } } }' },
    ],
    expressionFields: [],
    rawFields: ["form"],
    routes: false,
  },
  http: {
    kind: "http",
    label: "HTTP request",
    description: "Call an HTTP API (also for outgoing webhooks); private and loopback addresses are refused unless allowed.",
    icon: "⇅",
    color: "teal",
    configSchema: z.object({
      method: z.enum(HTTP_METHODS, { error: `method must be one of ${HTTP_METHODS.join(", ")}` }).default("GET"),
      url: z.string().min(1, "url is required, e.g. https://api.example.com/items/{{ input.id }}"),
      headers: z.record(z.string(), z.string(), { error: "headers must be an object of header name → text" }).optional(),
      query: z.record(z.string(), z.unknown(), { error: "query must be an object of parameter name → value" }).optional(),
      body: z.unknown().optional(),
      timeoutMs: numberOrTemplate.optional(),
      responseType: z.enum(["auto", "json", "text"], { error: "responseType must be auto, json or text" }).optional(),
      acceptStatus: z.array(z.number().int().min(100).max(599), { error: "acceptStatus must be a list of HTTP status codes, e.g. [404]" }).optional(),
      maxResponseBytes: z
        .number()
        .int()
        .positive("maxResponseBytes must be a positive number of bytes")
        .max(100 * 1024 * 1024, "maxResponseBytes is at most 104857600 (100 MB): the response is held in memory")
        .optional(),
    }),
    defaultConfig: { method: "GET", url: "" },
    fields: [
      { name: "method", label: "Method", type: "select", options: [...HTTP_METHODS], required: true },
      { name: "url", label: "URL", type: "text", required: true, placeholder: "https://api.example.com/items/{{ input.id }}" },
      { name: "query", label: "Query parameters (JSON)", type: "json", help: '{ "q": "{{ input.topic }}" }' },
      { name: "headers", label: "Headers (JSON)", type: "json", help: '{ "Authorization": "Bearer …" }' },
      { name: "body", label: "Body (JSON or text)", type: "json", help: '{ "text": "{{ steps.llm_1.text }}" }' },
      { name: "timeoutMs", label: "Time limit (ms, default 30000)", type: "number" },
      { name: "responseType", label: "Response", type: "select", options: ["auto", "json", "text"], help: "auto parses JSON responses" },
      { name: "acceptStatus", label: "Also accept status codes (JSON list)", type: "json", help: "[404]" },
      { name: "maxResponseBytes", label: "Largest response (bytes, default 10 MB)", type: "number" },
    ],
    expressionFields: [],
    routes: false,
  },
  code: {
    kind: "code",
    label: "Code",
    description: "Run JavaScript in a sandbox (no network, files or process) with time and memory limits.",
    icon: "{}",
    color: "slate",
    configSchema: z.object({
      code: z.string().min(1, "code is required: a function body that returns the output, e.g. return { doubled: input.n * 2 }"),
      timeoutMs: z.number().int().positive("timeoutMs must be a positive number of milliseconds").max(60_000, "timeoutMs is at most 60000").optional(),
      // Below 16 runs with 16 MB, the smallest sandbox (kept valid: saved workflows with less still run).
      memoryMb: z.number().int().min(1, "memoryMb must be at least 1").max(1024, "memoryMb is at most 1024").optional(),
    }),
    defaultConfig: { code: "return { doubled: input.n * 2 };" },
    fields: [
      { name: "code", label: "Code (function body; input, steps, vars are available)", type: "code", required: true, placeholder: "return { doubled: input.n * 2 };" },
      { name: "timeoutMs", label: "Time limit (ms, default 1000)", type: "number" },
      { name: "memoryMb", label: "Memory limit (MB, 16-1024, default 64)", type: "number" },
    ],
    expressionFields: [],
    rawFields: ["code"],
    routes: false,
  },
  wait_webhook: {
    kind: "wait_webhook",
    label: "Wait for webhook",
    description: "Pause the run until its callback URL is called; the POSTed JSON becomes the output.",
    icon: "⇣",
    color: "rose",
    configSchema: z.object({ message: z.string().optional() }),
    defaultConfig: {},
    fields: [{ name: "message", label: "Note shown while waiting", type: "textarea", placeholder: "Waiting for the payment provider's confirmation" }],
    expressionFields: [],
    routes: false,
  },
  workflow: {
    kind: "workflow",
    label: "Sub-workflow",
    description: "Run another saved workflow (latest or a pinned version) with an input; its run is linked both ways.",
    icon: "▣",
    color: "indigo",
    configSchema: z.object({
      workflowId: z.string().min(1, "workflowId is required: the id of a saved workflow"),
      version: z.number().int().positive("version must be a saved version number (leave it empty for the latest)").optional(),
      input: z.unknown().optional(),
    }),
    defaultConfig: { workflowId: "" },
    fields: [
      { name: "workflowId", label: "Workflow id", type: "text", required: true, placeholder: "wf_…" },
      { name: "version", label: "Version (empty: latest)", type: "number" },
      { name: "input", label: "Input (JSON with {{ }} templates)", type: "json", help: '{ "topic": "{{ steps.research.text }}" }' },
    ],
    expressionFields: [],
    routes: false,
  },
  map: {
    kind: "map",
    label: "Map",
    description: "Run a chain of steps for each item of a list, several at once; outputs are collected in order.",
    icon: "☰",
    color: "emerald",
    configSchema: z.object({
      items: z.unknown().refine((v) => Array.isArray(v) || (typeof v === "string" && v.includes("{{")), "items is required: a list or a {{ template }} giving one, e.g. {{ input.topics }}"),
      concurrency: z.number().int().min(1, "concurrency must be at least 1").max(50, "concurrency is at most 50").optional(),
      steps: z.array(StepSchema, { error: "steps must be a list of steps to run for each item" }).min(1, "steps needs at least one step to run for each item"),
    }),
    defaultConfig: { items: "{{ input.items }}", concurrency: 4, steps: [{ id: "each", type: "transform", config: { output: "{{ item }}" } }] },
    fields: [
      { name: "items", label: "Items (a {{ template }} giving a list)", type: "text", required: true, placeholder: "{{ input.topics }}" },
      { name: "concurrency", label: "At most this many items at once (default 4)", type: "number" },
      {
        name: "steps",
        label: "Steps for each item (in order; templates see item, index and steps.<id>)",
        type: "json",
        required: true,
        help: '[{ "id": "summary", "type": "llm", "config": { "prompt": "Summarise {{ item }}" } }]',
      },
    ],
    expressionFields: [],
    rawFields: ["steps"],
    routes: false,
  },
  kilo: {
    kind: "kilo",
    label: "Kilo Code",
    description: "Let the Kilo Code CLI agent work on the run's workspace (files) with a prompt, through the LLM gateway.",
    icon: "⌘",
    color: "orange",
    configSchema: z.object({
      prompt: z.string().min(1, "prompt is required: the task for the coding agent"),
      model: z.string().optional(),
      timeoutMs: z.number().int().positive("timeoutMs must be a positive number of milliseconds").optional(),
    }),
    defaultConfig: { prompt: "" },
    fields: [
      { name: "model", label: "Model (empty: the default model from Settings)", type: "model", placeholder: "default model" },
      { name: "prompt", label: "Task", type: "textarea", required: true, placeholder: "Write a README for {{ input.project }}" },
      { name: "timeoutMs", label: "Time limit (ms, default 600000)", type: "number" },
    ],
    expressionFields: [],
    routes: false,
  },
} satisfies Record<string, StepKindSpec>;

export type StepKindName = keyof typeof stepKinds;

export function isStepKind(kind: string): kind is StepKindName {
  return Object.hasOwn(stepKinds, kind);
}

export function getStepKind(kind: string): StepKindSpec | undefined {
  return isStepKind(kind) ? stepKinds[kind] : undefined;
}

export const stepKindList: StepKindSpec[] = Object.values(stepKinds);
