"use client";

import { useRouter } from "next/navigation";
import { useState, useTransition } from "react";
import { changeUserRole, createUser, removeUser } from "@/app/settings/actions";
import type { Role } from "@/lib/auth/roles";

export interface UserRow {
  id: string;
  email: string;
  name: string;
  role: Role;
}

const input = "w-full rounded border border-neutral-300 px-2 py-1 text-sm";

/**
 * Settings → Users (admins): everyone who can sign in, with their role; add a user with an initial password,
 * change a role, remove a user. The owner is fixed, and only the owner gives or takes the admin role.
 */
export function UsersSection({ users, actor }: { users: UserRow[]; actor: { id: string; role: Role } }) {
  const router = useRouter();
  const [pending, start] = useTransition();
  const [rowError, setRowError] = useState<{ userId: string; text: string }>();
  // The roles this admin can give (there is one owner; admins are the owner's to make).
  const assignable: Role[] = actor.role === "owner" ? ["admin", "editor", "viewer"] : ["editor", "viewer"];
  const canChange = (user: UserRow) => user.role !== "owner" && user.id !== actor.id && (user.role !== "admin" || actor.role === "owner");

  const act = (userId: string, action: () => Promise<{ ok: true } | { ok: false; message: string }>) =>
    start(async () => {
      const result = await action();
      setRowError(result.ok ? undefined : { userId, text: result.message });
      if (result.ok) router.refresh();
    });

  return (
    <div className="space-y-3">
      <table className="w-full overflow-hidden rounded border border-neutral-200 bg-white text-sm" data-testid="users-table">
        <thead className="bg-neutral-50 text-left text-xs text-neutral-500">
          <tr>
            <th className="px-3 py-2 font-medium">Email</th>
            <th className="px-3 py-2 font-medium">Name</th>
            <th className="px-3 py-2 font-medium">Role</th>
            <th className="px-3 py-2" />
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.id} className="border-t border-neutral-100 align-top" data-testid={`user-row-${user.email}`}>
              <td className="px-3 py-2">
                {user.email}
                {user.id === actor.id && <span className="ml-1 text-xs text-neutral-500">(you)</span>}
                {rowError?.userId === user.id && (
                  <p data-testid="user-row-error" role="alert" className="mt-1 text-xs text-red-600">{rowError.text}</p>
                )}
              </td>
              <td className="px-3 py-2 text-neutral-600">{user.name}</td>
              <td className="px-3 py-2">
                {canChange(user) ? (
                  <select
                    data-testid="user-role"
                    aria-label={`role of ${user.email}`}
                    value={user.role}
                    disabled={pending}
                    onChange={(e) => {
                      const role = e.target.value;
                      act(user.id, () => changeUserRole(user.id, role));
                    }}
                    className="rounded border border-neutral-300 bg-white px-1 py-0.5 text-sm"
                  >
                    {assignable.map((role) => (
                      <option key={role} value={role}>{role}</option>
                    ))}
                  </select>
                ) : (
                  <span data-testid="user-role-fixed">{user.role}</span>
                )}
              </td>
              <td className="px-3 py-2 text-right">
                {canChange(user) && (
                  <button
                    type="button"
                    data-testid="user-remove"
                    disabled={pending}
                    onClick={() => {
                      if (window.confirm(`Remove ${user.email}? They can no longer sign in, and their API tokens stop working.`)) act(user.id, () => removeUser(user.id));
                    }}
                    className="text-xs text-red-700 hover:underline disabled:opacity-50"
                  >
                    Remove
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="text-xs text-neutral-500">A user whose role changes is signed out; the new role applies from their next sign-in.</p>
      <AddUserForm roles={assignable} onAdded={() => router.refresh()} />
    </div>
  );
}

function AddUserForm({ roles, onAdded }: { roles: Role[]; onAdded(): void }) {
  const [form, setForm] = useState({ email: "", name: "", role: "editor", password: "" });
  const [message, setMessage] = useState<{ ok: boolean; text: string }>();
  const [pending, start] = useTransition();
  const set = (field: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setForm({ ...form, [field]: e.target.value });
  return (
    <form
      data-testid="add-user"
      className="space-y-3 rounded border border-neutral-200 bg-white p-4"
      onSubmit={(e) => {
        e.preventDefault();
        start(async () => {
          const result = await createUser({ ...form, name: form.name || undefined });
          if (!result.ok) return setMessage({ ok: false, text: result.message });
          setMessage({ ok: true, text: `Added ${result.user.email} (${result.user.role}): give them the password to sign in.` });
          setForm({ email: "", name: "", role: form.role, password: "" });
          onAdded();
        });
      }}
    >
      <h3 className="text-sm font-semibold">Add a user</h3>
      <div className="grid grid-cols-2 gap-3">
        <label className="block">
          <span className="mb-1 block text-xs font-medium text-neutral-600">Email</span>
          <input data-testid="new-user-email" type="email" required value={form.email} onChange={set("email")} autoComplete="off" className={input} />
        </label>
        <label className="block">
          <span className="mb-1 block text-xs font-medium text-neutral-600">Name (optional)</span>
          <input data-testid="new-user-name" value={form.name} onChange={set("name")} autoComplete="off" className={input} />
        </label>
        <label className="block">
          <span className="mb-1 block text-xs font-medium text-neutral-600">Role</span>
          <select data-testid="new-user-role" value={form.role} onChange={set("role")} className={`${input} bg-white`}>
            {roles.map((role) => (
              <option key={role} value={role}>{role}</option>
            ))}
          </select>
        </label>
        <label className="block">
          <span className="mb-1 block text-xs font-medium text-neutral-600">Initial password (at least 8 characters)</span>
          <input data-testid="new-user-password" type="password" required value={form.password} onChange={set("password")} autoComplete="new-password" className={input} />
        </label>
      </div>
      <div className="flex items-center gap-3">
        <button type="submit" disabled={pending} data-testid="new-user-add" className="rounded bg-neutral-900 px-3 py-1.5 text-sm font-medium text-white disabled:opacity-50">
          Add user
        </button>
        {message && (
          <span data-testid="new-user-message" role={message.ok ? undefined : "alert"} className={`text-sm ${message.ok ? "text-emerald-700" : "text-red-600"}`}>
            {message.text}
          </span>
        )}
      </div>
    </form>
  );
}
