"use client";

import { useEffect, useState } from "react";

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

/** Numbers, or a {{ template }} that yields one at run time; empty removes the value. */
export function NumberInput({ value, onChange, testId, placeholder }: { value: unknown; onChange(value: number | string | undefined): void; testId?: string; placeholder?: string }) {
  return (
    <input
      data-testid={testId}
      className={inputClass}
      value={value === undefined || value === null ? "" : String(value)}
      placeholder={placeholder}
      onChange={(e) => {
        const text = e.target.value;
        if (text.trim() === "") return onChange(undefined);
        const n = Number(text);
        onChange(Number.isFinite(n) && !text.includes("{") ? n : text);
      }}
    />
  );
}

/** A JSON editor that only commits valid JSON and says what is wrong otherwise. */
export function JsonInput({ value, onChange, testId, placeholder, rows = 6 }: { value: unknown; onChange(value: unknown): void; testId?: string; placeholder?: string; rows?: number }) {
  const serialized = value === undefined ? "" : JSON.stringify(value, null, 2);
  const [text, setText] = useState(serialized);
  const [error, setError] = useState<string>();
  useEffect(() => {
    // Follow outside changes (another step selected) without clobbering what is being typed.
    setText((current) => {
      try {
        if (current.trim() && JSON.stringify(JSON.parse(current)) === JSON.stringify(value)) return current;
      } catch {
        /* keep the user's invalid text while they type */
        return current;
      }
      return serialized;
    });
  }, [serialized, value]);
  return (
    <>
      <textarea
        data-testid={testId}
        rows={rows}
        className={`${inputClass} font-mono text-xs ${error ? "border-red-500" : ""}`}
        value={text}
        placeholder={placeholder}
        onChange={(e) => {
          setText(e.target.value);
          if (!e.target.value.trim()) {
            setError(undefined);
            return onChange(undefined);
          }
          try {
            onChange(JSON.parse(e.target.value));
            setError(undefined);
          } catch (err) {
            setError(`Not valid JSON yet: ${(err as Error).message}`);
          }
        }}
      />
      <FieldError message={error} testId={testId ? `${testId}-error` : undefined} />
    </>
  );
}
