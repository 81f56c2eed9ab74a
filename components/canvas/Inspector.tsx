"use client";

import { useState } from "react";
import { StepLog } from "@/components/ui/StepLog";
import { ModelInput } from "./ModelInput";
import { WebhookPanel } from "./WebhookPanel";
import { StatusBadge, JsonBlock } from "@/components/ui/status";
import { DEFAULT_MAX_ITERATIONS, MAX_BUDGET_USD, MAX_CONCURRENCY_KEY_EXPRESSION, MAX_CONCURRENCY_LIMIT, RETRY_DEFAULTS, STEP_ID_PATTERN } from "@/lib/workflow/schema";
import type { WorkflowMeta } from "@/lib/workflow/canvas";
import { getStepKind, type FieldSpec } from "@/lib/workflow/step-kinds";
import { useShallow } from "zustand/react/shallow";
import { useEditor, useEditorApi } from "./editor-store";
import { INVALID_FIELD, WORKFLOW_FIELDS } from "./editor-history";
import { FieldError, JsonInput, Label, NumberInput, TextInput, type KeptText } from "./fields";

/** The text a field keeps in the store while it cannot be taken (owner: a step id or WORKFLOW_FIELDS). */
function useKeptText(owner: string, field: string): KeptText {
  const invalid = useEditor((s) => s.invalidFields[owner]?.[field]);
  const setInvalidField = useEditor((s) => s.setInvalidField);
  return { invalid, onInvalid: (next) => setInvalidField(owner, field, next) };
}

const wholeAtLeast = (min: number, unit = "") => (n: number) => (Number.isInteger(n) && n >= min ? undefined : `enter a whole number${unit} of at least ${min}`);

/**
 * Right panel: the selected step (config form from the registry + live run output) or the workflow's settings.
 * View only: the forms are shown disabled (a disabled fieldset covers every field, present and future).
 */
export function Inspector() {
  const selectedId = useEditor((s) => s.selectedId);
  const exists = useEditor((s) => s.nodes.some((n) => n.id === s.selectedId));
  return (
    <aside data-testid="inspector" className="w-80 shrink-0 overflow-y-auto border-l border-neutral-200 bg-white">
      {selectedId && exists ? <StepInspector key={selectedId} stepId={selectedId} /> : <ReadOnlyFieldset><WorkflowSettings /></ReadOnlyFieldset>}
    </aside>
  );
}

function ReadOnlyFieldset({ children }: { children: React.ReactNode }) {
  const readOnly = useEditor((s) => s.readOnly);
  return (
    <fieldset
      disabled={readOnly}
      data-testid={readOnly ? "inspector-read-only" : undefined}
      className="min-w-0 [&_:is(input,textarea,select):disabled]:cursor-not-allowed [&_:is(input,select):disabled]:bg-neutral-50"
    >
      {children}
    </fieldset>
  );
}

function StepInspector({ stepId }: { stepId: string }) {
  const node = useEditor((s) => s.nodes.find((n) => n.id === stepId)!);
  const hasRun = useEditor((s) => Boolean(s.run));
  const [tab, setTab] = useState<"config" | "run">(hasRun ? "run" : "config");
  const kind = getStepKind(node.data.type);
  return (
    <div>
      <div className="flex items-center gap-2 border-b border-neutral-200 px-3 py-2">
        <span className="text-base">{kind?.icon}</span>
        <div className="min-w-0 flex-1">
          <div className="truncate text-sm font-semibold">{node.data.name || stepId}</div>
          <div className="text-[11px] text-neutral-500">{kind?.label ?? node.data.type} step</div>
        </div>
      </div>
      <div className="flex border-b border-neutral-200 text-xs">
        {(["config", "run"] as const).map((t) => (
          <button
            key={t}
            type="button"
            data-testid={`inspector-tab-${t}`}
            onClick={() => setTab(t)}
            className={`flex-1 py-1.5 font-medium ${tab === t ? "border-b-2 border-neutral-900 text-neutral-900" : "text-neutral-500"}`}
          >
            {t === "config" ? "Configure" : "Run output"}
          </button>
        ))}
      </div>
      {tab === "config" ? (
        <ReadOnlyFieldset>
          <StepForm stepId={stepId} />
        </ReadOnlyFieldset>
      ) : (
        <StepRunPanel stepId={stepId} />
      )}
    </div>
  );
}

const dollarsCheck = (n: number) => (n > 0 && n <= MAX_BUDGET_USD ? undefined : `enter an amount in US dollars above 0 and at most ${MAX_BUDGET_USD.toLocaleString("en-US")}`);
const wholeOrUnset = (n: number | string | undefined, min: number) => (typeof n === "number" && n >= min ? Math.floor(n) : undefined);

function StepForm({ stepId }: { stepId: string }) {
  const node = useEditor((s) => s.nodes.find((n) => n.id === stepId)!);
  // Kept invalid texts are shown by their own fields, not again as issues.
  const issues = useEditor(useShallow((s) => s.issues.filter((i) => i.stepId === stepId && i.code !== INVALID_FIELD)));
  const updateStep = useEditor((s) => s.updateStep);
  const renameStep = useEditor((s) => s.renameStep);
  const setInvalidField = useEditor((s) => s.setInvalidField);
  const api = useEditorApi();
  const keptId = useEditor((s) => s.invalidFields[stepId]?.id?.text);
  const [idDraft, setIdDraft] = useState(keptId ?? stepId);
  // A boolean, not the list of all ids: this selector runs on every store change (each drag frame).
  const draftTaken = useEditor((s) => idDraft !== stepId && s.nodes.some((n) => n.id === idDraft));
  const kind = getStepKind(node.data.type);
  const idError = !STEP_ID_PATTERN.test(idDraft)
    ? "Use letters, digits, _ and -, starting with a letter or _"
    : draftTaken
      ? "Another step already has this id"
      : undefined;

  const setConfig = (name: string, value: unknown, typed = true) => {
    const config = { ...node.data.config };
    if (value === undefined || value === "") delete config[name];
    else config[name] = value;
    updateStep(stepId, { config }, typed ? `config.${name}` : undefined);
  };
  // Backoff fields only exist once retries are on; unset ones fall back to RETRY_DEFAULTS.
  const setRetry = (patch: Partial<NonNullable<typeof node.data.retry>>) => {
    const retry: Record<string, unknown> = { ...node.data.retry, ...patch };
    for (const key of Object.keys(retry)) if (retry[key] === undefined) delete retry[key];
    updateStep(stepId, { retry }, `retry.${Object.keys(patch)[0]}`);
  };
  const kept = {
    attempts: useKeptText(stepId, "retry.maxAttempts"),
    initialDelay: useKeptText(stepId, "retry.initialDelayMs"),
    backoff: useKeptText(stepId, "retry.backoffFactor"),
    maxDelay: useKeptText(stepId, "retry.maxDelayMs"),
    timeout: useKeptText(stepId, "timeoutMs"),
    outputSchema: useKeptText(stepId, "outputSchema"),
    assign: useKeptText(stepId, "assign"),
  };
  const fieldIssue = (field: string) => issues.find((i) => i.field === field || i.field?.startsWith(`${field}.`))?.message;

  return (
    <div className="space-y-3 p-3">
      <Label text="Step id" required>
        <TextInput
          testId="field-id"
          value={idDraft}
          mono
          onChange={(v) => {
            setIdDraft(v);
            if (STEP_ID_PATTERN.test(v) && !api.getState().nodes.some((n) => n.id === v)) renameStep(stepId, v);
            else if (v === stepId) setInvalidField(stepId, "id", undefined);
            // An id that cannot be taken is kept (it blocks saving) rather than silently left behind.
            else setInvalidField(stepId, "id", { text: v, error: STEP_ID_PATTERN.test(v) ? "another step already has this id" : "use letters, digits, _ and -, starting with a letter or _" });
          }}
        />
        <FieldError message={idError} />
      </Label>
      <Label text="Name">
        <TextInput testId="field-name" value={node.data.name ?? ""} onChange={(v) => updateStep(stepId, { name: v || undefined }, "name")} />
      </Label>
      {kind?.fields.map((field) => (
        <ConfigField
          key={field.name}
          stepId={stepId}
          field={field}
          value={node.data.config[field.name]}
          onChange={(v) => setConfig(field.name, v, field.type !== "select")}
          issue={fieldIssue(`config.${field.name}`)}
        />
      ))}
      <fieldset className="space-y-2 rounded border border-neutral-200 p-2">
        <legend className="px-1 text-xs font-medium text-neutral-600">Errors</legend>
        <Label text="Attempts (retries network errors, 429, 5xx, timeouts)">
          <NumberInput
            testId="field-retry-attempts"
            value={node.data.retry?.maxAttempts}
            placeholder="1"
            templates={false}
            check={wholeAtLeast(1)}
            kept={kept.attempts}
            onChange={(n) => updateStep(stepId, { retry: typeof n === "number" && n > 1 ? { ...node.data.retry, maxAttempts: n } : undefined }, "retry.maxAttempts")}
          />
        </Label>
        {node.data.retry && (
          <div className="grid grid-cols-2 gap-2" data-testid="retry-backoff">
            <Label text="First delay (ms)">
              <NumberInput testId="field-retry-initial-delay" value={node.data.retry.initialDelayMs} placeholder={String(RETRY_DEFAULTS.initialDelayMs)} templates={false} check={wholeAtLeast(0)} kept={kept.initialDelay} onChange={(n) => setRetry({ initialDelayMs: wholeOrUnset(n, 0) })} />
            </Label>
            <Label text="Backoff factor">
              <NumberInput testId="field-retry-backoff" value={node.data.retry.backoffFactor} placeholder={String(RETRY_DEFAULTS.backoffFactor)} templates={false} check={(n) => (n >= 1 ? undefined : "enter a factor of at least 1")} kept={kept.backoff} onChange={(n) => setRetry({ backoffFactor: typeof n === "number" && n >= 1 ? n : undefined })} />
            </Label>
            <Label text="Longest delay (ms)">
              <NumberInput testId="field-retry-max-delay" value={node.data.retry.maxDelayMs} placeholder={String(RETRY_DEFAULTS.maxDelayMs)} templates={false} check={wholeAtLeast(0)} kept={kept.maxDelay} onChange={(n) => setRetry({ maxDelayMs: wholeOrUnset(n, 0) })} />
            </Label>
            <label className="flex items-center gap-1 self-end pb-1 text-xs text-neutral-600">
              <input type="checkbox" data-testid="field-retry-jitter" checked={node.data.retry.jitter ?? RETRY_DEFAULTS.jitter} onChange={(e) => setRetry({ jitter: e.target.checked })} />
              random jitter
            </label>
          </div>
        )}
        <Label text="Time limit per attempt (ms)">
          <NumberInput
            testId="field-timeout"
            value={node.data.timeoutMs}
            placeholder="none"
            templates={false}
            check={wholeAtLeast(1, " of milliseconds")}
            kept={kept.timeout}
            onChange={(n) => updateStep(stepId, { timeoutMs: typeof n === "number" && n > 0 ? n : undefined }, "timeoutMs")}
          />
        </Label>
        <Label text="When it still fails">
          <select
            data-testid="field-on-error"
            className="w-full rounded border border-neutral-300 bg-white px-2 py-1 text-sm"
            value={node.data.onError ?? "fail"}
            onChange={(e) => updateStep(stepId, { onError: e.target.value === "fail" ? undefined : (e.target.value as "continue" | "route") })}
          >
            <option value="fail">fail the run</option>
            <option value="continue">continue (output is the error)</option>
            <option value="route">follow the red error handle</option>
          </select>
        </Label>
        <FieldError message={fieldIssue("onError")} />
      </fieldset>
      <Label text="Output schema (JSON Schema the output must match)">
        <JsonInput
          testId="field-output-schema"
          rows={3}
          value={node.data.outputSchema}
          placeholder={'{ "type": "object", "required": ["text"] }'}
          kept={kept.outputSchema}
          onChange={(v) => updateStep(stepId, { outputSchema: (v as Record<string, unknown>) ?? undefined }, "outputSchema")}
        />
        <FieldError message={fieldIssue("outputSchema")} />
      </Label>
      <Label text="Assign variables after the step">
        <JsonInput
          testId="field-assign"
          rows={3}
          value={node.data.assign}
          placeholder={'{ "count": "{{ vars.count + 1 }}" }'}
          kept={kept.assign}
          onChange={(v) => updateStep(stepId, { assign: (v as Record<string, string>) ?? undefined }, "assign")}
        />
        <FieldError message={fieldIssue("assign")} />
      </Label>
      {issues.filter((i) => !i.field?.startsWith("config.") && !i.field?.startsWith("assign")).map((i) => (
        <p key={i.message} className="rounded bg-red-50 px-2 py-1 text-[11px] text-red-700">{i.message}</p>
      ))}
      <p className="text-[11px] leading-snug text-neutral-500">
        Templates: <code className="font-mono">{"{{ input.x }}"}</code>, <code className="font-mono">{"{{ steps.id.text }}"}</code>,{" "}
        <code className="font-mono">{"{{ vars.n + 1 }}"}</code> (JSONata).
      </p>
    </div>
  );
}

function ConfigField({ stepId, field, value, onChange, issue }: { stepId: string; field: FieldSpec; value: unknown; onChange(v: unknown): void; issue?: string }) {
  const testId = `field-${field.name}`;
  const kept = useKeptText(stepId, `config.${field.name}`);
  return (
    <Label text={field.label} required={field.required}>
      {field.type === "number" ? (
        <NumberInput testId={testId} value={value} onChange={onChange} placeholder={field.placeholder} kept={kept} />
      ) : field.type === "json" ? (
        <JsonInput testId={testId} value={value} onChange={onChange} placeholder={field.help} kept={kept} />
      ) : field.type === "model" ? (
        <ModelInput testId={testId} value={value} onChange={onChange} placeholder={field.placeholder} />
      ) : field.type === "select" ? (
        <select
          data-testid={testId}
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(e.target.value || undefined)}
          className="w-full rounded border border-neutral-300 bg-white px-2 py-1 text-sm"
        >
          {!field.required && <option value="">—</option>}
          {(field.options ?? []).map((option) => (
            <option key={option} value={option}>{option}</option>
          ))}
        </select>
      ) : field.type === "code" ? (
        <textarea
          data-testid={testId}
          value={typeof value === "string" ? value : ""}
          onChange={(e) => onChange(e.target.value)}
          placeholder={field.placeholder}
          rows={8}
          spellCheck={false}
          className="w-full rounded border border-neutral-300 bg-neutral-950 px-2 py-1 font-mono text-[12px] text-neutral-100"
        />
      ) : (
        <TextInput
          testId={testId}
          value={typeof value === "string" ? value : value === undefined ? "" : String(value)}
          onChange={onChange}
          placeholder={field.placeholder}
          mono={field.type === "expression"}
          multiline={field.type === "textarea"}
        />
      )}
      {field.help && field.type !== "json" && <p className="mt-1 text-[11px] text-neutral-500">{field.help}</p>}
      <FieldError message={issue} testId={`${testId}-issue`} />
    </Label>
  );
}

function StepRunPanel({ stepId }: { stepId: string }) {
  const live = useEditor((s) => s.run?.steps[stepId]);
  const runId = useEditor((s) => s.run?.runId);
  if (!runId) return <p className="p-3 text-sm text-neutral-500">Run the workflow to see this step&apos;s output here.</p>;
  if (!live) return <p className="p-3 text-sm text-neutral-500">This step has not started in the current run.</p>;
  return (
    <div className="space-y-3 p-3" data-testid="step-run-panel">
      <div className="flex items-center gap-2 text-xs">
        <StatusBadge status={live.status} testId="step-run-status" />
        {live.execution > 1 && <span className="text-neutral-500">execution {live.execution}</span>}
      </div>
      {live.tokens && (
        <div>
          <h3 className="mb-1 text-xs font-medium text-neutral-600">Streamed text</h3>
          <div data-testid="step-tokens" className="max-h-60 overflow-auto whitespace-pre-wrap rounded border border-neutral-200 bg-neutral-50 p-2 text-sm">
            {live.tokensFrom ? "…" : ""}
            {live.tokens}
          </div>
        </div>
      )}
      <StepLog lines={live.logs ?? []} testId="step-log" />
      {live.output !== undefined && (
        <div>
          <h3 className="mb-1 text-xs font-medium text-neutral-600">Output</h3>
          <JsonBlock value={live.output} testId="step-output" />
        </div>
      )}
      {live.attempt && live.attempt > 1 && (
        <p data-testid="step-attempt" className="text-xs text-amber-800">
          attempt {live.attempt}
          {live.retryError && live.status === "running" ? ` — the last one failed: ${live.retryError.code}: ${live.retryError.message}` : ""}
        </p>
      )}
      {live.error && (
        <p data-testid="step-error" className="rounded bg-red-50 px-2 py-1 text-xs text-red-700">
          {live.error.code}: {live.error.message}
        </p>
      )}
    </div>
  );
}

function WorkflowSettings() {
  const meta = useEditor((s) => s.meta);
  const savedVersion = useEditor((s) => s.savedVersion);
  const readOnly = useEditor((s) => s.readOnly);
  const setMeta = useEditor((s) => s.setMeta);
  const setLimit = (key: keyof NonNullable<WorkflowMeta["limits"]>, n: number | string | undefined) => {
    const limits = { ...meta.limits, [key]: wholeOrUnset(n, 1) };
    if (limits[key] === undefined) delete limits[key];
    setMeta({ limits: Object.keys(limits).length ? limits : undefined }, `limits.${key}`);
  };
  const setBudget = (key: "perRunUsd" | "perMonthUsd", n: number | string | undefined) => {
    const budget: Record<string, number | undefined> = { ...meta.budget, [key]: typeof n === "number" && n > 0 ? n : undefined };
    if (budget[key] === undefined) delete budget[key];
    setMeta({ budget: Object.keys(budget).length ? budget : undefined }, `budget.${key}`);
  };
  const kept = {
    input: useKeptText(WORKFLOW_FIELDS, "input"),
    vars: useKeptText(WORKFLOW_FIELDS, "vars"),
    maxIterations: useKeptText(WORKFLOW_FIELDS, "limits.maxIterations"),
    maxStepExecutions: useKeptText(WORKFLOW_FIELDS, "limits.maxStepExecutions"),
    concurrencyLimit: useKeptText(WORKFLOW_FIELDS, "concurrency.limit"),
    perRunUsd: useKeptText(WORKFLOW_FIELDS, "budget.perRunUsd"),
    perMonthUsd: useKeptText(WORKFLOW_FIELDS, "budget.perMonthUsd"),
  };
  const isConcurrency = (field?: string) => field === "concurrency" || field?.startsWith("concurrency.") === true;
  const issues = useEditor(useShallow((s) => s.issues.filter((i) => !i.stepId && i.code !== INVALID_FIELD && !isConcurrency(i.field))));
  // What the server found wrong with the setting (the key's expression, what it reads), shown under its fields.
  const concurrencyIssues = useEditor(useShallow((s) => s.issues.filter((i) => !i.stepId && i.code !== INVALID_FIELD && isConcurrency(i.field)).map((i) => i.message)));
  const setConcurrencyLimit = (n: number | string | undefined) => {
    const limit = wholeOrUnset(n, 1);
    // No limit, no setting: a key alone limits nothing.
    setMeta({ concurrency: limit === undefined ? undefined : { ...meta.concurrency, limit } }, "concurrency.limit");
  };
  const setConcurrencyKey = (key: string) => {
    if (!meta.concurrency) return;
    const { key: _old, ...rest } = meta.concurrency;
    setMeta({ concurrency: key.trim() ? { ...rest, key } : rest }, "concurrency.key");
  };
  const keyTooLong = (meta.concurrency?.key?.length ?? 0) > MAX_CONCURRENCY_KEY_EXPRESSION;
  return (
    <div className="space-y-3 p-3">
      <h2 className="text-sm font-semibold">Workflow</h2>
      <Label text="Name" required>
        <TextInput testId="workflow-name" value={meta.name} onChange={(name) => setMeta({ name }, "name")} />
      </Label>
      <Label text="Id">
        <code className="block font-mono text-xs text-neutral-600">{meta.id}</code>
      </Label>
      <Label text="Input (JSON Schema)">
        <JsonInput
          testId="workflow-input-schema"
          value={meta.input}
          placeholder={'{ "type": "object", "properties": { "topic": { "type": "string" } }, "required": ["topic"] }'}
          kept={kept.input}
          onChange={(input) => setMeta({ input: input as Record<string, unknown> | undefined }, "input")}
        />
      </Label>
      <Label text="Variables (initial values)">
        <JsonInput testId="workflow-vars" rows={3} value={meta.vars} placeholder='{ "count": 0 }' kept={kept.vars} onChange={(vars) => setMeta({ vars: vars as Record<string, unknown> | undefined }, "vars")} />
      </Label>
      <Label text="Runs per step (loop limit)">
        <NumberInput
          testId="workflow-max-iterations"
          value={meta.limits?.maxIterations}
          placeholder={String(DEFAULT_MAX_ITERATIONS)}
          templates={false}
          check={wholeAtLeast(1)}
          kept={kept.maxIterations}
          onChange={(n) => setLimit("maxIterations", n)}
        />
      </Label>
      <Label text="Step executions per run (optional cap)">
        <NumberInput testId="workflow-max-step-executions" value={meta.limits?.maxStepExecutions} placeholder="no cap" templates={false} check={wholeAtLeast(1)} kept={kept.maxStepExecutions} onChange={(n) => setLimit("maxStepExecutions", n)} />
      </Label>
      <Label text="Runs at once (concurrency limit)">
        <NumberInput
          testId="workflow-concurrency-limit"
          value={meta.concurrency?.limit}
          placeholder="no limit"
          templates={false}
          check={(n) => (Number.isInteger(n) && n >= 1 && n <= MAX_CONCURRENCY_LIMIT ? undefined : `enter a whole number from 1 to ${MAX_CONCURRENCY_LIMIT}`)}
          kept={kept.concurrencyLimit}
          onChange={setConcurrencyLimit}
        />
      </Label>
      {meta.concurrency && (
        <Label text="Concurrency key (optional expression over the input)">
          <TextInput testId="workflow-concurrency-key" mono value={meta.concurrency.key ?? ""} placeholder="input.customerId" onChange={setConcurrencyKey} />
          <p className="mt-1 text-[11px] text-neutral-500">
            {meta.concurrency.key ? `At most ${meta.concurrency.limit} run(s) at once per value of the key` : `At most ${meta.concurrency.limit} run(s) of this workflow at once`}; the rest wait queued, first come first served.
          </p>
          <FieldError testId="workflow-concurrency-key-error" message={keyTooLong ? `the key is at most ${MAX_CONCURRENCY_KEY_EXPRESSION} characters` : undefined} />
        </Label>
      )}
      {concurrencyIssues.map((message) => (
        <p key={message} data-testid="workflow-concurrency-issue" className="rounded bg-red-50 px-2 py-1 text-[11px] text-red-700">{message}</p>
      ))}
      <Label text="Budget per run (USD, optional cap)">
        <NumberInput testId="workflow-budget-run" value={meta.budget?.perRunUsd} placeholder="no cap" templates={false} check={dollarsCheck} kept={kept.perRunUsd} onChange={(n) => setBudget("perRunUsd", n)} />
      </Label>
      <Label text="Budget per month (USD, all runs, UTC calendar month)">
        <NumberInput testId="workflow-budget-month" value={meta.budget?.perMonthUsd} placeholder="no cap" templates={false} check={dollarsCheck} kept={kept.perMonthUsd} onChange={(n) => setBudget("perMonthUsd", n)} />
      </Label>
      {issues.map((i) => (
        <p key={i.message} className="rounded bg-red-50 px-2 py-1 text-[11px] text-red-700">{i.message}</p>
      ))}
      <Label text="Webhook trigger">
        <WebhookPanel workflowId={meta.id} saved={savedVersion !== null} canChange={!readOnly} />
      </Label>
    </div>
  );
}
