import { OrchestratorError } from "@/lib/engine/errors";

/** The environment, or a stand-in for it (tests). */
export type Env = Record<string, string | undefined>;

/**
 * Which `Host` names this server answers to, against DNS rebinding: a page on an attacker's domain whose name is
 * re-pointed at 127.0.0.1 reaches this server from the victim's browser as same-origin, but its requests still
 * carry the attacker's name in `Host` (and `Origin`). Only names the operator knows are served: the loopback names
 * (a browser sends them only for a page that really is on this machine), the host of ORCHESTRATOR_PUBLIC_URL, the
 * address the server listens on when it is a concrete one, and ORCHESTRATOR_ALLOWED_HOSTS.
 */

export const ALLOWED_HOSTS_ENV = "ORCHESTRATOR_ALLOWED_HOSTS";

/** A host name (lower case, IPv6 without brackets) and, when the entry names one, the only port it matches. */
export interface HostEntry {
  hostname: string;
  port?: string;
}

const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"];
/** Listen addresses that are every interface, not a name a client would use. */
const WILDCARD_ADDRESSES = new Set(["0.0.0.0", "::", ""]);

/**
 * `host`, `host:port`, `[v6]` or `[v6]:port` → its parts, or undefined when it is not one. Host names are letters,
 * digits, dots, hyphens and underscores (no spaces, slashes or user info), at most 253 characters.
 */
export function parseHostEntry(text: string): HostEntry | undefined {
  const raw = text.trim().toLowerCase();
  let hostname: string;
  let port: string | undefined;
  if (raw.startsWith("[")) {
    const end = raw.indexOf("]");
    if (end < 0) return undefined;
    hostname = raw.slice(1, end);
    const rest = raw.slice(end + 1);
    if (rest && !rest.startsWith(":")) return undefined;
    port = rest ? rest.slice(1) : undefined;
    if (!/^[0-9a-f:.]+$/.test(hostname) || !hostname.includes(":")) return undefined;
  } else {
    const colon = raw.indexOf(":");
    if (colon !== raw.lastIndexOf(":")) return raw === "::1" ? { hostname: raw } : undefined; // bare IPv6 only for ::1
    hostname = colon < 0 ? raw : raw.slice(0, colon);
    port = colon < 0 ? undefined : raw.slice(colon + 1);
    if (!/^[a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?\.?$/.test(hostname)) return undefined;
    hostname = hostname.replace(/\.$/, ""); // "example.com." is "example.com"
  }
  if (!hostname || hostname.length > 253) return undefined;
  if (port !== undefined && (!/^\d{1,5}$/.test(port) || Number(port) > 65535)) return undefined;
  return port !== undefined ? { hostname, port: String(Number(port)) } : { hostname };
}

let cached: { key: string; entries: HostEntry[] } | undefined;

/** The hosts served, from the environment (read afresh when it changes; tests set it). */
export function allowedHosts(env: Env = process.env): HostEntry[] {
  const key = [env[ALLOWED_HOSTS_ENV], env.ORCHESTRATOR_PUBLIC_URL, env.HOST].join("\n");
  if (cached?.key === key) return cached.entries;
  const entries: HostEntry[] = LOOPBACK_NAMES.map((hostname) => ({ hostname }));
  const problems: string[] = [];
  for (const item of (env[ALLOWED_HOSTS_ENV] ?? "").split(",").map((e) => e.trim()).filter(Boolean)) {
    const entry = parseHostEntry(item);
    if (entry) entries.push(entry);
    else problems.push(`"${item}"`);
  }
  if (problems.length)
    throw new OrchestratorError(
      "INVALID_INPUT",
      `${ALLOWED_HOSTS_ENV}: ${problems.join(", ")} ${problems.length > 1 ? "are not host names" : "is not a host name"}; write comma-separated host or host:port entries, e.g. orchestrator.example.com,10.0.0.5:3000`,
    );
  // The public address is the operator's own name for this server: any port (a proxy in front may drop it).
  if (env.ORCHESTRATOR_PUBLIC_URL) {
    try {
      const entry = parseHostEntry(new URL(env.ORCHESTRATOR_PUBLIC_URL).hostname);
      if (entry) entries.push({ hostname: entry.hostname });
    } catch {
      // not a URL: callback URLs made from it fail on their own; nothing to add here
    }
  }
  const listen = env.HOST?.trim();
  if (listen && !WILDCARD_ADDRESSES.has(listen)) {
    const entry = parseHostEntry(listen);
    if (entry) entries.push({ hostname: entry.hostname });
  }
  cached = { key, entries };
  return entries;
}

/** Whether a `Host` header (or an Origin's host) names a host this server answers to. */
export function isAllowedHost(host: string | undefined, entries: HostEntry[] = allowedHosts()): boolean {
  if (!host) return false;
  const parsed = parseHostEntry(host);
  if (!parsed) return false;
  return entries.some((e) => e.hostname === parsed.hostname && (e.port === undefined || e.port === parsed.port));
}

/**
 * Whether a browser's `Origin` may open a realtime connection: an http(s) page on a host this server answers to
 * (its port as the page has it, the scheme's default when it names none). `null` and other schemes are refused.
 */
export function isAllowedOrigin(origin: string, entries: HostEntry[] = allowedHosts()): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return isAllowedHost(`${url.hostname}:${port}`, entries);
}

/** The message of a refused `Host` (HTTP 421): what was asked, and the setting that lets it in. */
export function hostRefusalMessage(host: string | undefined): string {
  const shown = host ? `"${host.slice(0, 100)}"` : "(none)";
  return `this server does not answer to the host ${shown} (a guard against DNS rebinding): add it to ${ALLOWED_HOSTS_ENV} (comma-separated host or host:port entries) or set ORCHESTRATOR_PUBLIC_URL to the address clients use`;
}
