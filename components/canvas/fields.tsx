"use client";

import { useEffect, useState } from "react";
import { parseJsonText, type InvalidField } from "./editor-history";

const inputClass = "w-full rounded border border-neutral-300 bg-white px-2 py-1 text-sm focus:border-neutral-500 focus:outline-none";

export function Label({ text, required, children }: { text: string; required?: boolean; children: React.ReactNode }) {
  return (
    <label className="block">
      <span className="mb-1 block text-xs font-medium text-neutral-600">
        {text}
        {required && <span className="text-red-600"> *</span>}
      </span>
      {children}
    </label>
  );
}

export function FieldError({ message, testId }: { message?: string; testId?: string }) {
  return message ? <p data-testid={testId} className="mt-1 text-[11px] text-red-600">{message}</p> : null;
}

export function TextInput({ value, onChange, placeholder, mono, testId, multiline }: {
  value: string;
  onChange(value: string): void;
  placeholder?: string;
  mono?: boolean;
  testId?: string;
  multiline?: boolean;
}) {
  const cls = `${inputClass} ${mono ? "font-mono text-xs" : ""}`;
  return multiline ? (
    <textarea data-testid={testId} className={`${cls} min-h-24`} value={value} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} />
  ) : (
    <input data-testid={testId} className={cls} value={value} placeholder={placeholder} onChange={(e) => onChange(e.target.value)} />
  );
}

/** Where a field keeps text it cannot take yet (the editor store), so it survives selecting another step. */
export interface KeptText {
  invalid: InvalidField | undefined;
  onInvalid(invalid: InvalidField | undefined): void;
}

/**
 * Numbers, or (with `templates`) a {{ template }} that yields one at run time; empty removes the value.
 * `check` says what is wrong with a number the field cannot take. Text it cannot take is kept as typed, with
 * the error next to it — in the store with `kept`, else only while shown.
 */
export function NumberInput({ value, onChange, testId, placeholder, templates = true, check, kept }: {
  value: unknown;
  onChange(value: number | string | undefined): void;
  testId?: string;
  placeholder?: string;
  templates?: boolean;
  check?: (n: number) => string | undefined;
  kept?: KeptText;
}) {
  const shown = value === undefined || value === null ? "" : String(value);
  const [text, setText] = useState(kept?.invalid?.text ?? shown);
  const [localError, setLocalError] = useState<string>();
  const invalidText = kept?.invalid?.text;
  useEffect(() => {
    // Follow outside changes (undo, another step) without rewriting what is typed ("0." while it means 0).
    setText((current) => {
      if (invalidText !== undefined) return invalidText;
      if (current.trim() !== "" && (current === shown || Number(current) === value)) return current;
      return shown;
    });
  }, [shown, value, invalidText]);
  const error = kept ? kept.invalid?.error : localError;
  const reject = (message: string, typed: string) => (kept ? kept.onInvalid({ text: typed, error: message }) : setLocalError(message));
  const accept = (next: number | string | undefined) => {
    onChange(next);
    if (kept?.invalid) kept.onInvalid(undefined);
    setLocalError(undefined);
  };
  return (
    <>
      <input
        data-testid={testId}
        className={`${inputClass} ${error ? "border-red-500" : ""}`}
        value={text}
        placeholder={placeholder}
        onChange={(e) => {
          const typed = e.target.value;
          setText(typed);
          if (typed.trim() === "") return accept(undefined);
          if (templates && typed.includes("{")) return accept(typed);
          const n = Number(typed);
          if (!Number.isFinite(n)) return reject(templates ? "not a number (or a {{ template }})" : "not a number", typed);
          const problem = check?.(n);
          if (problem) return reject(problem, typed);
          accept(n);
        }}
      />
      <FieldError message={error} testId={testId ? `${testId}-error` : undefined} />
    </>
  );
}

/**
 * A JSON editor that only commits valid JSON. Text that does not parse is kept as typed with what is wrong —
 * in the store with `kept` (it then blocks saving), else only while shown.
 */
export function JsonInput({ value, onChange, testId, placeholder, rows = 6, kept }: {
  value: unknown;
  onChange(value: unknown): void;
  testId?: string;
  placeholder?: string;
  rows?: number;
  kept?: KeptText;
}) {
  const serialized = value === undefined ? "" : JSON.stringify(value, null, 2);
  const invalidText = kept?.invalid?.text;
  const keeps = kept !== undefined;
  const [text, setText] = useState(invalidText ?? serialized);
  const [localError, setLocalError] = useState<string>();
  useEffect(() => {
    // Follow outside changes (another step selected, undo, a restored draft) without clobbering what is typed.
    setText((current) => {
      if (invalidText !== undefined) return invalidText;
      const parsed = parseJsonText(current);
      if (parsed.ok ? JSON.stringify(parsed.value) === JSON.stringify(value) : !keeps) return current;
      return serialized;
    });
  }, [serialized, value, invalidText, keeps]);
  const error = kept ? kept.invalid?.error : localError;
  return (
    <>
      <textarea
        data-testid={testId}
        rows={rows}
        className={`${inputClass} font-mono text-xs ${error ? "border-red-500" : ""}`}
        value={text}
        placeholder={placeholder}
        onChange={(e) => {
          const typed = e.target.value;
          setText(typed);
          const parsed = parseJsonText(typed);
          if (parsed.ok) {
            onChange(parsed.value);
            if (kept?.invalid) kept.onInvalid(undefined);
            setLocalError(undefined);
          } else if (kept) kept.onInvalid({ text: typed, error: parsed.error });
          else setLocalError(`Not valid JSON yet: ${parsed.error.replace(/^not valid JSON: /, "")}`);
        }}
      />
      <FieldError message={error && kept ? error[0].toUpperCase() + error.slice(1) : error} testId={testId ? `${testId}-error` : undefined} />
    </>
  );
}
