import dns from "node:dns";
import type { LookupAddress } from "node:dns";
import { Agent, request } from "undici";
import { addressRefusal, ipLiteral, type AllowList } from "./address-policy";
import { redactUrl } from "./credentials";

/**
 * Outbound HTTP with the SSRF guard: http/https only; the host is resolved once and the connection goes to the
 * address that was checked (undici connects through our lookup, so a DNS answer cannot change in between);
 * every redirect is checked again (at most 5); the response size and the time are capped.
 */

export class BlockedRequestError extends Error {
  readonly code = "HTTP_BLOCKED";
  constructor(message: string) {
    super(message);
    this.name = "BlockedRequestError";
  }
}

export class ResponseTooLargeError extends Error {
  constructor(readonly limitBytes: number) {
    super(`the response is larger than ${limitBytes} bytes; raise maxResponseBytes if that is expected`);
    this.name = "ResponseTooLargeError";
  }
}

export interface GuardedRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  allow: AllowList;
  maxRedirects?: number;
  maxResponseBytes?: number;
  /** Told about each redirect that is followed (after it passed the checks). */
  onRedirect?(status: number, to: string): void;
}

export interface GuardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  url: string;
  redirects: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
export const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;

/** Refuses a URL before any connection: scheme, credentials in it, and IP literals outside the policy. */
export function checkUrl(raw: string, allow: AllowList): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BlockedRequestError(`"${redactUrl(raw)}" is not a valid URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new BlockedRequestError(`only http and https URLs are allowed, not ${url.protocol.replace(":", "")}`);
  const literal = ipLiteral(url.hostname);
  if (literal) {
    const refusal = addressRefusal(literal, allow);
    if (refusal) throw new BlockedRequestError(`refused to connect to ${url.host}: ${refusal}; an admin can allow it with ORCHESTRATOR_HTTP_ALLOW`);
  }
  return url;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net.connect that resolves once and refuses the name if any of its addresses is refused. */
function guardedLookup(allow: AllowList) {
  return (hostname: string, options: { family?: number; all?: boolean }, callback: LookupCallback) => {
    dns.lookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses) => {
      if (err) return callback(err, []);
      for (const { address } of addresses) {
        const refusal = addressRefusal(address, allow, hostname);
        if (refusal)
          return callback(
            Object.assign(new BlockedRequestError(`refused to connect to ${hostname}: it resolves to ${refusal}; an admin can allow it with ORCHESTRATOR_HTTP_ALLOW`), { errno: 0 }) as NodeJS.ErrnoException,
            [],
          );
      }
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

/** Finds our refusal inside whatever undici wrapped it in. */
function blockedCause(err: unknown): BlockedRequestError | undefined {
  for (let e = err as { cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++)
    if (e instanceof BlockedRequestError) return e;
  return undefined;
}

export async function guardedFetch(req: GuardedRequest): Promise<GuardedResponse> {
  const maxRedirects = req.maxRedirects ?? 5;
  const maxBytes = req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const dispatcher = new Agent({ connect: { lookup: guardedLookup(req.allow) as never } });
  let url = checkUrl(req.url, req.allow);
  let method = req.method.toUpperCase();
  let body = req.body;
  let headers = { ...(req.headers ?? {}) };
  try {
    for (let redirects = 0; ; redirects++) {
      let response;
      try {
        response = await request(url, { method: method as never, headers, body, signal: req.signal, dispatcher });
      } catch (err) {
        throw blockedCause(err) ?? err;
      }
      const location = response.headers.location;
      if (REDIRECTS.has(response.statusCode) && location) {
        await response.body.dump();
        if (redirects >= maxRedirects) throw new BlockedRequestError(`more than ${maxRedirects} redirects (last to ${redactUrl(String(location))})`);
        const next = checkUrl(new URL(String(location), url).toString(), req.allow);
        if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method === "POST")) {
          method = "GET";
          body = undefined;
          headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^content-(type|length)$/i.test(k)));
        }
        // Credentials are for the origin they were written for.
        if (next.origin !== url.origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => !/^(authorization|cookie)$/i.test(k)));
        url = next;
        req.onRedirect?.(response.statusCode, url.toString());
        continue;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of response.body) {
        size += chunk.length;
        if (size > maxBytes) {
          response.body.destroy();
          throw new ResponseTooLargeError(maxBytes);
        }
        chunks.push(chunk);
      }
      const flat: Record<string, string> = {};
      for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(", ") : value;
      return { status: response.statusCode, headers: flat, body: Buffer.concat(chunks), url: url.toString(), redirects };
    }
  } finally {
    void dispatcher.close().catch(() => {});
  }
}
