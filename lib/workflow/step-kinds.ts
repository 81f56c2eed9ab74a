import { z } from "zod";

/**
 * The one registry of step kinds' pure facts: the palette, the inspector form, the validator and the engine all
 * read it. The server executor of each kind lives in lib/engine/steps/<kind>.ts, its canvas look in
 * components/steps/. Adding a kind = one entry here + one executor + one client entry.
 */

/** Template strings ("Hello {{ input.name }}") are allowed wherever a number is expected. */
const numberOrTemplate = z.union([z.number(), z.string().regex(/\{\{[\s\S]*\}\}/, "a number or a {{ template }}")]);

export type FieldType = "text" | "textarea" | "number" | "json" | "expression";

export interface FieldSpec {
  name: string;
  label: string;
  type: FieldType;
  required?: boolean;
  placeholder?: string;
  help?: string;
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
    configSchema: z.object({
      prompt: z.string().min(1, "prompt is required: write what the model should do"),
      model: z.string().min(1, "model is required, e.g. gpt-4o-mini"),
      system: z.string().optional(),
      temperature: numberOrTemplate.optional(),
      maxTokens: numberOrTemplate.optional(),
    }),
    defaultConfig: { prompt: "", model: "gpt-4o-mini" },
    fields: [
      { name: "model", label: "Model", type: "text", required: true, placeholder: "gpt-4o-mini" },
      { name: "system", label: "System prompt", type: "textarea" },
      { name: "prompt", label: "Prompt", type: "textarea", required: true, placeholder: "Summarise {{ input.topic }}" },
      { name: "temperature", label: "Temperature", type: "number" },
      { name: "maxTokens", label: "Max tokens", type: "number" },
    ],
    expressionFields: [],
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
} satisfies Record<string, StepKindSpec>;

export type StepKindName = keyof typeof stepKinds;

export function isStepKind(kind: string): kind is StepKindName {
  return Object.hasOwn(stepKinds, kind);
}

export function getStepKind(kind: string): StepKindSpec | undefined {
  return isStepKind(kind) ? stepKinds[kind] : undefined;
}

export const stepKindList: StepKindSpec[] = Object.values(stepKinds);
