import { randomBytes, randomUUID } from "node:crypto";
import { hashPassword } from "better-auth/crypto";
import { z } from "zod";
import { ensureLocalUser, type Db } from "@/lib/db";
import { OrchestratorError } from "@/lib/engine/errors";
import { recordAudit } from "@/lib/audit/record";
import { sha256 } from "@/lib/secrets";
import { actorById, requireRole } from "./access";
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from "./auth";
import { isRole, ROLES, type Actor, type Role } from "./roles";

/**
 * Users and API tokens. The owner exists from the first start: a placeholder (id `local`, the user of installs
 * before sign-in, so what the CLI ran stays theirs) that the first-run setup claims with an email and password.
 */

/** The owner's id, creating the placeholder on a fresh database. */
export const ensureOwner = ensureLocalUser;

/** Whether the owner has not been claimed yet (no one can sign in): the app shows the first-run setup. */
export async function needsSetup(db: Db): Promise<boolean> {
  const ownerId = await ensureOwner(db);
  return (await db.account.count({ where: { userId: ownerId, providerId: "credential" } })) === 0;
}

export const Email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, "email: at most 254 characters")
  .pipe(z.email("email: enter an address like ada@example.com"));
export const Password = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `password: at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(MAX_PASSWORD_LENGTH, `password: at most ${MAX_PASSWORD_LENGTH} characters`);
export const UserName = z.string().trim().max(100, "name: at most 100 characters");
export const RoleName = z.enum(ROLES, { message: `role: one of ${ROLES.join(", ")}` });

const NewUser = z.object({ email: Email, name: UserName.optional(), password: Password });

async function setPassword(db: Db, userId: string, password: string) {
  const hash = await hashPassword(password);
  const account = await db.account.findFirst({ where: { userId, providerId: "credential" }, select: { id: true } });
  if (account) await db.account.update({ where: { id: account.id }, data: { password: hash } });
  else await db.account.create({ data: { id: randomUUID(), userId, accountId: userId, providerId: "credential", password: hash } });
}

/** First-run setup: gives the owner an email, name and password. Refused once the owner has been claimed. */
export async function claimOwner(db: Db, form: { email: string; name?: string; password: string }): Promise<Actor> {
  const parsed = NewUser.parse(form);
  if (!(await needsSetup(db))) throw new OrchestratorError("CONFLICT", "the owner is already set up: sign in instead");
  const ownerId = await ensureOwner(db);
  const taken = await db.user.findUnique({ where: { email: parsed.email }, select: { id: true } });
  if (taken && taken.id !== ownerId) throw new OrchestratorError("CONFLICT", `email "${parsed.email}" is already in use`);
  await db.user.update({ where: { id: ownerId }, data: { email: parsed.email, name: parsed.name || parsed.email.split("@")[0] } });
  await setPassword(db, ownerId, parsed.password);
  await recordAudit(db, { actorId: ownerId, action: "user.setup", targetType: "user", targetId: ownerId, summary: `Set up the owner ${parsed.email}`, data: { email: parsed.email } });
  return actorById(db, ownerId);
}

const MAX_USERS = 10_000;

/** Adds a user (admins; only the owner adds admins). The owner role is never given. */
export async function addUser(db: Db, actor: Actor, form: { email: string; name?: string; password: string; role: Role }) {
  requireRole(actor, "admin", "adding users");
  const parsed = NewUser.extend({ role: RoleName }).parse(form);
  if (parsed.role === "owner") throw new OrchestratorError("INVALID_INPUT", "role: there is one owner; choose admin, editor or viewer");
  if (parsed.role === "admin" && actor.role !== "owner") throw new OrchestratorError("FORBIDDEN", "only the owner adds admins");
  if (await db.user.findUnique({ where: { email: parsed.email }, select: { id: true } }))
    throw new OrchestratorError("CONFLICT", `a user with the email "${parsed.email}" already exists`);
  if ((await db.user.count()) >= MAX_USERS) throw new OrchestratorError("INVALID_INPUT", `at most ${MAX_USERS} users`);
  const id = randomUUID();
  await db.user.create({ data: { id, email: parsed.email, name: parsed.name || parsed.email.split("@")[0], role: parsed.role } });
  await setPassword(db, id, parsed.password);
  await recordAudit(db, { actorId: actor.id, action: "user.add", targetType: "user", targetId: id, summary: `Added user ${parsed.email} as ${parsed.role}`, data: { email: parsed.email, role: parsed.role } });
  return { id, email: parsed.email, role: parsed.role };
}

export async function listUsers(db: Db, actor: Actor) {
  requireRole(actor, "admin", "listing users");
  const users = await db.user.findMany({ orderBy: { createdAt: "asc" }, select: { id: true, email: true, name: true, role: true, createdAt: true } });
  return users.map((user) => ({ ...user, role: isRole(user.role) ? user.role : "viewer", createdAt: user.createdAt.toISOString() }));
}

/** Changes a user's role or removes the user (admins; the owner cannot be changed, only the owner touches admins). */
export async function updateUser(db: Db, actor: Actor, userId: string, change: { role: Role } | { remove: true }) {
  requireRole(actor, "admin", "changing users");
  const target = await db.user.findUnique({ where: { id: userId }, select: { id: true, role: true, email: true } });
  if (!target) throw new OrchestratorError("NOT_FOUND", `user "${userId}" not found`);
  if (target.role === "owner") throw new OrchestratorError("FORBIDDEN", "the owner cannot be changed or removed");
  if ((target.role === "admin" || ("role" in change && change.role === "admin")) && actor.role !== "owner")
    throw new OrchestratorError("FORBIDDEN", "only the owner changes admins");
  if ("remove" in change) {
    if (await db.workflow.count({ where: { ownerId: userId } }))
      throw new OrchestratorError("CONFLICT", "the user owns workflows: delete them or have them deleted first");
    await db.$transaction([db.run.deleteMany({ where: { ownerId: userId } }), db.user.delete({ where: { id: userId } })]);
  } else {
    const role = RoleName.parse(change.role);
    if (role === "owner") throw new OrchestratorError("INVALID_INPUT", "role: there is one owner; choose admin, editor or viewer");
    await db.user.update({ where: { id: userId }, data: { role } });
    await db.session.deleteMany({ where: { userId } }); // signs the user out: the new role applies from the next sign-in
  }
  await recordAudit(db, {
    actorId: actor.id,
    action: "remove" in change ? "user.remove" : "user.role",
    targetType: "user",
    targetId: userId,
    summary: "remove" in change ? `Removed user ${target.email}` : `Changed the role of ${target.email} from ${target.role} to ${change.role}`,
    data: "remove" in change ? { email: target.email, removed: true } : { email: target.email, from: target.role, to: change.role },
  });
}

/** Finds a user by email or id (CLI `--user`, `tokens create --user`). */
export async function findUser(db: Db, emailOrId: string): Promise<Actor> {
  const key = emailOrId.trim();
  const user = await db.user.findFirst({ where: { OR: [{ email: key.toLowerCase() }, { id: key }] }, select: { id: true } });
  if (!user) throw new OrchestratorError("NOT_FOUND", `no user "${emailOrId}": add one with \`orchestrator users add <email> --role <role>\``);
  return actorById(db, user.id);
}

// ---------------------------------------------------------------------------------------------------------------
// API tokens

const TOKEN_PREFIX = "orc_";
const MAX_TOKENS_PER_USER = 100;
export const TokenName = z.string().trim().min(1, "name: give the token a name").max(100, "name: at most 100 characters");

/** Creates a token for `userId` (itself, or anyone for admins); the token is returned this once and stored hashed. */
export async function createToken(db: Db, actor: Actor, userId: string, name: string) {
  if (userId !== actor.id) requireRole(actor, "admin", "creating tokens for other users");
  const tokenName = TokenName.parse(name);
  if ((await db.apiToken.count({ where: { userId } })) >= MAX_TOKENS_PER_USER)
    throw new OrchestratorError("INVALID_INPUT", `a user can have at most ${MAX_TOKENS_PER_USER} tokens: revoke unused ones`);
  const token = `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
  const id = `tok_${randomBytes(8).toString("hex")}`;
  await db.apiToken.create({ data: { id, userId, name: tokenName, tokenHash: sha256(token) } });
  const owner = userId === actor.id ? "" : ` for ${(await db.user.findUnique({ where: { id: userId }, select: { email: true } }))?.email ?? userId}`;
  await recordAudit(db, { actorId: actor.id, action: "token.create", targetType: "token", targetId: id, subjectId: userId, summary: `Created API token "${tokenName}"${owner}`, data: { userId, name: tokenName } });
  return { id, token, name: tokenName };
}

/** The actor's tokens (admins: everyone's), never the tokens themselves. */
export async function listTokens(db: Db, actor: Actor) {
  const rows = await db.apiToken.findMany({
    where: actor.role === "owner" || actor.role === "admin" ? {} : { userId: actor.id },
    orderBy: { createdAt: "desc" },
    select: { id: true, name: true, createdAt: true, lastUsedAt: true, user: { select: { id: true, email: true } } },
  });
  return rows.map((row) => ({ id: row.id, name: row.name, userId: row.user.id, email: row.user.email, createdAt: row.createdAt.toISOString(), lastUsedAt: row.lastUsedAt?.toISOString() ?? null }));
}

/** Revokes (deletes) a token: the actor's own, or anyone's for admins. Unknown and foreign tokens are NOT_FOUND. */
export async function revokeToken(db: Db, actor: Actor, tokenId: string) {
  const row = await db.apiToken.findUnique({ where: { id: tokenId }, select: { userId: true, name: true } });
  if (!row || (row.userId !== actor.id && actor.role !== "owner" && actor.role !== "admin"))
    throw new OrchestratorError("NOT_FOUND", `token "${tokenId}" not found`);
  await db.apiToken.delete({ where: { id: tokenId } });
  await recordAudit(db, { actorId: actor.id, action: "token.revoke", targetType: "token", targetId: tokenId, subjectId: row.userId, summary: `Revoked API token "${row.name}"`, data: { userId: row.userId, name: row.name } });
}

const LAST_USED_RESOLUTION_MS = 60_000;

/** The user a bearer token acts as, with the user's current role; null for an unknown token. */
export async function actorFromToken(db: Db, token: string): Promise<Actor | null> {
  if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return null;
  const row = await db.apiToken.findUnique({ where: { tokenHash: sha256(token) }, select: { id: true, userId: true, lastUsedAt: true } });
  if (!row) return null;
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS)
    await db.apiToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  return actorById(db, row.userId);
}
