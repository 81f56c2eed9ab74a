"use client";

import { useState, useTransition } from "react";
import { removeSecret, saveSecret } from "@/app/settings/actions";
import { SECRET_NAME_PATTERN } from "@/lib/workflow/secret-names";
import { SettingsForm } from "./SettingsForm";

/** When a secret was last set, the same on the server and in the browser (no locale or time zone involved). */
const formatUpdated = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;

/**
 * The current user's secrets: names and when each was last set, a form to add one, and per secret a new value or
 * deletion. Values are write-only: typed here, sent once, cleared from the form, never shown or sent back.
 */
export function SecretsSection({ secrets, max }: { secrets: Array<{ name: string; updatedAt: string }>; max: number }) {
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  return (
    <div className="space-y-3">
      {secrets.length > 0 ? (
        <ul data-testid="secrets-list" className="divide-y divide-neutral-200 rounded border border-neutral-200 bg-white">
          {secrets.map((secret) => (
            <SecretRow key={secret.name} name={secret.name} updatedAt={secret.updatedAt} />
          ))}
        </ul>
      ) : (
        <p data-testid="secrets-empty" className="text-sm text-neutral-500">
          No secrets yet.
        </p>
      )}
      <SettingsForm
        testId="secret-add"
        save={() => saveSecret({ name, value })}
        onSaved={() => {
          setName("");
          setValue("");
        }}
      >
        <div className="flex gap-3">
          <label className="block w-2/5">
            <span className="mb-1 block text-xs font-medium text-neutral-600">Name</span>
            <input
              data-testid="secret-name"
              className="w-full rounded border border-neutral-300 px-2 py-1 font-mono text-sm"
              value={name}
              placeholder="API_KEY"
              autoComplete="off"
              spellCheck={false}
              maxLength={64}
              onChange={(e) => setName(e.target.value)}
            />
          </label>
          <label className="block flex-1">
            <span className="mb-1 block text-xs font-medium text-neutral-600">Value (write-only)</span>
            <input
              data-testid="secret-value"
              type="password"
              className="w-full rounded border border-neutral-300 px-2 py-1 font-mono text-sm"
              value={value}
              autoComplete="new-password"
              spellCheck={false}
              onChange={(e) => setValue(e.target.value)}
            />
          </label>
        </div>
        <p className="text-xs text-neutral-500">
          {name && !SECRET_NAME_PATTERN.test(name)
            ? "Names are upper-case letters, digits and _, starting with a letter (e.g. API_KEY)."
            : `Saving an existing name replaces its value. Up to ${max} secrets.`}
        </p>
      </SettingsForm>
    </div>
  );
}

function SecretRow({ name, updatedAt }: { name: string; updatedAt: string }) {
  const [replacing, setReplacing] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const [value, setValue] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [pending, start] = useTransition();
  const act = (work: () => Promise<{ ok: true } | { ok: false; message: string }>, done: string) =>
    start(async () => {
      const result = await work();
      setMessage(result.ok ? { ok: true, text: done } : { ok: false, text: result.message });
      if (result.ok) {
        setValue("");
        setReplacing(false);
      }
    });
  return (
    <li data-testid={`secret-row-${name}`} className="px-3 py-2 text-sm">
      <div className="flex items-center gap-3">
        <code className="font-mono font-medium">{name}</code>
        <span data-testid={`secret-updated-${name}`} className="text-xs text-neutral-500">
          set {formatUpdated(updatedAt)}
        </span>
        <span className="ml-auto flex gap-2">
          <button type="button" data-testid={`secret-replace-${name}`} className="rounded border border-neutral-300 px-2 py-0.5 text-xs" onClick={() => setReplacing((r) => !r)}>
            {replacing ? "Cancel" : "Replace value"}
          </button>
          <button
            type="button"
            data-testid={`secret-delete-${name}`}
            disabled={pending}
            className={`rounded border px-2 py-0.5 text-xs ${confirmDelete ? "border-red-600 bg-red-600 text-white" : "border-neutral-300 text-red-700"}`}
            onClick={() => (confirmDelete ? act(() => removeSecret({ name }), "Deleted") : setConfirmDelete(true))}
            onBlur={() => setConfirmDelete(false)}
          >
            {confirmDelete ? "Confirm delete" : "Delete"}
          </button>
        </span>
      </div>
      {replacing && (
        <form
          className="mt-2 flex items-center gap-2"
          onSubmit={(e) => {
            e.preventDefault();
            act(() => saveSecret({ name, value }), "Replaced");
          }}
        >
          <input
            data-testid={`secret-replace-value-${name}`}
            type="password"
            aria-label={`New value of ${name}`}
            className="flex-1 rounded border border-neutral-300 px-2 py-1 font-mono text-sm"
            value={value}
            autoComplete="new-password"
            onChange={(e) => setValue(e.target.value)}
          />
          <button type="submit" disabled={pending} data-testid={`secret-replace-save-${name}`} className="rounded bg-neutral-900 px-3 py-1 text-xs font-medium text-white disabled:opacity-50">
            Save
          </button>
        </form>
      )}
      {message && (
        <p data-testid={`secret-message-${name}`} className={`mt-1 text-xs ${message.ok ? "text-emerald-700" : "text-red-600"}`}>
          {message.text}
        </p>
      )}
    </li>
  );
}
