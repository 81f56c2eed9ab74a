/**
 * Roles and what each may do: the one table every check reads (pure: the browser shows it too).
 * - owner: everything; one per install, made by the first-run setup.
 * - admin: every workflow and run, settings, users (not the owner) and everyone's tokens.
 * - editor: creates workflows; edits and runs its own and those shared with it for editing; sees those shared to view.
 * - viewer: sees the workflows shared with it and their runs; changes nothing.
 */
export const ROLES = ["owner", "admin", "editor", "viewer"] as const;
export type Role = (typeof ROLES)[number];

const RANK: Record<Role, number> = { viewer: 0, editor: 1, admin: 2, owner: 3 };

export const isRole = (value: unknown): value is Role => typeof value === "string" && (ROLES as readonly string[]).includes(value);

/** Whether `role` is at least `min` (owner > admin > editor > viewer). */
export const atLeast = (role: Role, min: Role) => RANK[role] >= RANK[min];

/** Who is asking: a signed-in user, an API token's user, or the CLI's named user. */
export interface Actor {
  id: string;
  role: Role;
  email: string;
  name: string;
}

/** Access to one workflow: `edit` (change, run, control its runs, webhooks, sharing) or `view`. */
export type Access = "edit" | "view";

/** The access a role gets from a grant (a viewer cannot edit whatever it was given). */
export function capAccess(role: Role, granted: Access): Access {
  return granted === "edit" && atLeast(role, "editor") ? "edit" : "view";
}

/** Whether the role sees and changes every workflow and run (not only its own and shared ones). */
export const seesEverything = (role: Role) => atLeast(role, "admin");
