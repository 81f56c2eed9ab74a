"use client";

import { useEffect, useState } from "react";
import { formatChoice, newItem, pathKey, valueAt, type FieldPath, type InputField } from "@/lib/workflow/input-form";
import { JsonInput } from "./fields";

/**
 * The run input as a form drawn from its JSON Schema (lib/workflow/input-form.ts): every field has the test id
 * `input-<path>` (keys and item indexes joined by dots: input-address.city, input-tags.0) and its error
 * `input-<path>-error`.
 */
export interface InputFormProps {
  field: InputField;
  value: unknown;
  errors: Record<string, string>;
  onEdit(path: FieldPath, next: unknown): void;
}

const inputClass = "w-full rounded border border-neutral-300 bg-white px-2 py-1 text-sm focus:border-neutral-500 focus:outline-none";

export function InputForm({ field, value, errors, onEdit }: InputFormProps) {
  // The input object's properties are the form's top level; any other input is one field.
  if (field.kind === "object")
    return (
      <div className="space-y-3">
        {field.properties.map((p) => (
          <FieldView key={p.name} name={p.name} field={p.field} required={p.required} path={[p.name]} value={valueAt(value, [p.name])} errors={errors} onEdit={onEdit} />
        ))}
      </div>
    );
  return <FieldView name="input" field={field} required path={[]} value={value} errors={errors} onEdit={onEdit} />;
}

interface FieldViewProps {
  name: string;
  field: InputField;
  required: boolean;
  path: FieldPath;
  value: unknown;
  errors: Record<string, string>;
  onEdit(path: FieldPath, next: unknown): void;
}

function FieldView(props: FieldViewProps) {
  const { name, field, required, path, errors } = props;
  const key = pathKey(path);
  const testId = key ? `input-${key}` : "input-value";
  const error = errors[key];
  const heading = (
    <>
      {field.title ?? name}
      {required && <span className="text-red-600"> *</span>}
      {field.description && <span className="block font-normal text-neutral-400">{field.description}</span>}
    </>
  );
  const errorLine = error ? <p data-testid={`${testId}-error`} className="mt-1 text-[11px] text-red-600">{error}</p> : null;

  if (field.kind === "object" || field.kind === "array")
    return (
      <fieldset data-testid={`${testId}-fieldset`} className={`rounded border p-2 ${error ? "border-red-400" : "border-neutral-200"}`}>
        <legend className="px-1 text-xs font-medium text-neutral-600">{heading}</legend>
        {field.kind === "object" ? <ObjectFields {...props} field={field} /> : <ListItems {...props} field={field} testId={testId} />}
        {errorLine}
      </fieldset>
    );

  if (field.kind === "boolean")
    return (
      <div>
        <label className="flex items-start gap-2 text-xs font-medium text-neutral-600">
          <input data-testid={testId} type="checkbox" className="mt-0.5" checked={props.value === true} onChange={(e) => props.onEdit(path, e.target.checked)} />
          <span>{heading}</span>
        </label>
        {errorLine}
      </div>
    );

  return (
    <label className="block">
      <span className="mb-1 block text-xs font-medium text-neutral-600">{heading}</span>
      <LeafInput {...props} testId={testId} invalid={Boolean(error)} />
      {errorLine}
    </label>
  );
}

function ObjectFields({ field, path, value, errors, onEdit }: FieldViewProps & { field: Extract<InputField, { kind: "object" }> }) {
  if (!field.properties.length) return <p className="text-xs text-neutral-400">no fields</p>;
  return (
    <div className="space-y-2">
      {field.properties.map((p) => (
        <FieldView key={p.name} name={p.name} field={p.field} required={p.required} path={[...path, p.name]} value={valueAt(value, [p.name])} errors={errors} onEdit={onEdit} />
      ))}
    </div>
  );
}

function ListItems({ field, path, value, errors, onEdit, testId }: FieldViewProps & { field: Extract<InputField, { kind: "array" }>; testId: string }) {
  const items = Array.isArray(value) ? value : [];
  return (
    <div className="space-y-2">
      {items.map((item, index) => (
        <div key={index} className="flex items-start gap-2">
          <div className="min-w-0 flex-1">
            <FieldView name={`#${index + 1}`} field={field.item} required={false} path={[...path, index]} value={item} errors={errors} onEdit={onEdit} />
          </div>
          <button
            type="button"
            data-testid={`${testId}.${index}-remove`}
            aria-label={`remove item ${index + 1}`}
            onClick={() => onEdit(path, items.filter((_, i) => i !== index))}
            className="mt-5 rounded px-1.5 text-xs text-neutral-500 hover:bg-red-50 hover:text-red-700"
          >
            ✕
          </button>
        </div>
      ))}
      <button type="button" data-testid={`${testId}-add`} onClick={() => onEdit(path, [...items, newItem(field.item)])} className="rounded border border-dashed border-neutral-300 px-2 py-0.5 text-xs text-neutral-600 hover:bg-neutral-50">
        + Add item
      </button>
    </div>
  );
}

/** Text, number, choice or JSON: one input for one value. */
function LeafInput({ field, path, value, onEdit, testId, invalid, required }: FieldViewProps & { testId: string; invalid: boolean }) {
  const inList = typeof path.at(-1) === "number";
  const cls = `${inputClass} ${invalid ? "border-red-400" : ""}`;
  switch (field.kind) {
    case "string":
      return (
        <input
          data-testid={testId}
          type="text"
          aria-required={required}
          className={cls}
          value={typeof value === "string" ? value : value === undefined || value === null ? "" : String(value)}
          // An empty text leaves an optional property out; a list item stays, empty.
          onChange={(e) => onEdit(path, e.target.value === "" && !inList ? undefined : e.target.value)}
        />
      );
    case "number":
      return <NumberField testId={testId} className={cls} integer={field.integer} required={required} value={value} onChange={(next) => onEdit(path, next)} />;
    case "enum": {
      const index = field.choices.findIndex((choice) => JSON.stringify(choice) === JSON.stringify(value));
      return (
        <select
          data-testid={testId}
          aria-required={required}
          className={cls}
          value={index === -1 ? "" : String(index)}
          onChange={(e) => onEdit(path, e.target.value === "" ? undefined : field.choices[Number(e.target.value)])}
        >
          <option value="">{value === undefined ? "— choose —" : "—"}</option>
          {field.choices.map((choice, i) => (
            <option key={i} value={String(i)}>
              {formatChoice(choice)}
            </option>
          ))}
        </select>
      );
    }
    default:
      return <JsonInput testId={testId} value={value} onChange={(next) => onEdit(path, next)} rows={3} />;
  }
}

/** A number input that keeps what is being typed ("1.", "-") while the value holds the number it reads as. */
function NumberField({ value, onChange, integer, testId, className, required }: {
  value: unknown;
  onChange(next: number | undefined): void;
  integer: boolean;
  testId: string;
  className: string;
  required: boolean;
}) {
  const shown = typeof value === "number" ? String(value) : "";
  const [text, setText] = useState(shown);
  useEffect(() => {
    // Follow outside changes (the JSON view, a removed list item), not the echo of what is typed here.
    setText((current) => (current.trim() !== "" && Number(current) === value ? current : shown));
  }, [value, shown]);
  return (
    <input
      data-testid={testId}
      type="number"
      step={integer ? 1 : "any"}
      aria-required={required}
      className={className}
      value={text}
      onChange={(e) => {
        setText(e.target.value);
        onChange(e.target.value.trim() === "" ? undefined : Number(e.target.value));
      }}
    />
  );
}
