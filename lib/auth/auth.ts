import { betterAuth } from "better-auth";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { recordAudit } from "@/lib/audit/record";
import type { Db } from "@/lib/db";
import { databaseUrl, isPostgresUrl } from "@/lib/db/url";
import { derivedSecret } from "@/lib/secrets";

/** The header server.ts sets from the socket's address (any incoming one is replaced): the sign-in rate limit's key. */
export const CLIENT_IP_HEADER = "x-orchestrator-client-ip";

export const SESSION_DAYS = 7;
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;
/** Sign-in attempts per client address per minute. */
export const SIGN_IN_ATTEMPTS_PER_MINUTE = Number(process.env.ORCHESTRATOR_SIGN_IN_RATE ?? 10);

/**
 * Better Auth over our Prisma client: email and password (scrypt hashes on the `credential` account), database
 * sessions in an HTTP-only cookie, sign-out. Sign-up is off: the first-run setup makes the owner and admins add
 * users (lib/auth/users.ts). Its routes are served under /api/auth by app/api/auth/[...all]/route.ts.
 */
export function createAuth(db: Db) {
  return betterAuth({
    appName: "LLM orchestrator",
    database: prismaAdapter(db, { provider: isPostgresUrl(databaseUrl()) ? "postgresql" : "sqlite" }),
    secret: derivedSecret("better-auth"),
    // The request's own host (checked against the allowed hosts before it gets here): any port on loopback.
    baseURL: { allowedHosts: allowedAuthHosts(), protocol: "auto" },
    trustedOrigins: (request) => (request ? [new URL(request.url).origin] : []),
    emailAndPassword: {
      enabled: true,
      disableSignUp: true,
      minPasswordLength: MIN_PASSWORD_LENGTH,
      maxPasswordLength: MAX_PASSWORD_LENGTH,
    },
    user: { additionalFields: { role: { type: "string", required: false, input: false, defaultValue: "editor" } } },
    session: { expiresIn: SESSION_DAYS * 86_400, updateAge: 86_400 },
    rateLimit: {
      enabled: true,
      storage: "memory",
      window: 60,
      max: 300,
      customRules: { "/sign-in/email": { window: 60, max: SIGN_IN_ATTEMPTS_PER_MINUTE } },
    },
    advanced: { ipAddress: { ipAddressHeaders: [CLIENT_IP_HEADER] } },
    telemetry: { enabled: false },
    // What changes through Better Auth's own routes (/api/auth) goes into the audit log too; session refreshes do not.
    databaseHooks: {
      session: {
        create: { after: (session) => recordAudit(db, { actorId: session.userId, action: "user.signIn", targetType: "user", targetId: session.userId, summary: "Signed in" }) },
        delete: { after: (session) => recordAudit(db, { actorId: session.userId, action: "user.signOut", targetType: "user", targetId: session.userId, summary: "Signed out (session ended)" }) },
      },
      user: {
        update: {
          after: (user) =>
            recordAudit(db, { actorId: user.id, action: "user.update", targetType: "user", targetId: user.id, summary: `Updated their profile (name "${user.name}")`, data: { name: user.name } }),
        },
      },
      account: {
        update: {
          after: (account) =>
            recordAudit(db, { actorId: account.userId, action: "user.password", targetType: "user", targetId: account.userId, summary: "Changed their password" }),
        },
      },
    },
  });
}

export type Auth = ReturnType<typeof createAuth>;

/** Hosts Better Auth builds its URLs from: loopback on any port, the public URL's host, and ORCHESTRATOR_ALLOWED_HOSTS. */
function allowedAuthHosts(): string[] {
  const hosts = ["localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*", "[::1]", "[::1]:*"];
  if (process.env.ORCHESTRATOR_PUBLIC_URL) {
    try {
      hosts.push(new URL(process.env.ORCHESTRATOR_PUBLIC_URL).host);
    } catch {
      // an invalid public URL is reported where it is used (lib/config.ts)
    }
  }
  for (const host of (process.env.ORCHESTRATOR_ALLOWED_HOSTS ?? "").split(",").map((h) => h.trim()).filter(Boolean)) hosts.push(host);
  return hosts;
}
