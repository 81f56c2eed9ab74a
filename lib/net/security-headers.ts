/**
 * Security headers of the pages. Pure (the proxy and next.config.ts both load it).
 *
 * Scripts: the App Router writes inline scripts (the RSC payload, bootstrap) and loads its chunks from them, so
 * `script-src` carries a nonce made per request in proxy.ts (Next puts it on every script it writes when it finds it
 * in the request's CSP header) with 'strict-dynamic' (the chunks those scripts load are trusted through them). Every
 * page renders per request anyway (they read the database), so the nonce costs no static rendering.
 * Styles: React Flow and the canvas set style attributes (positions, sizes, transforms) — 'unsafe-inline' for
 * styles is the price; a style cannot run script.
 */

/** Where the browser may connect besides the page's origin: Socket.IO's WebSocket on the same host. */
function realtimeSources(host: string | null): string[] {
  // The Host was checked against the allowed hosts first; this keeps anything else out of the header anyway.
  if (!host || !/^[A-Za-z0-9._:[\]-]{1,260}$/.test(host)) return [];
  return [`ws://${host}`, `wss://${host}`];
}

export function contentSecurityPolicy(nonce: string, host: string | null, dev = process.env.NODE_ENV !== "production"): string {
  const directives: Array<[string, ...string[]]> = [
    ["default-src", "'self'"],
    // React's development build evaluates code (stack traces, hot reload); the production build does not.
    ["script-src", "'self'", `'nonce-${nonce}'`, "'strict-dynamic'", ...(dev ? ["'unsafe-eval'"] : [])],
    ["style-src", "'self'", "'unsafe-inline'"],
    ["img-src", "'self'", "data:", "blob:"],
    ["font-src", "'self'", "data:"],
    ["connect-src", "'self'", ...realtimeSources(host)],
    ["object-src", "'none'"],
    ["base-uri", "'self'"],
    ["form-action", "'self'"],
    ["frame-ancestors", "'none'"],
  ];
  return directives.map((d) => d.join(" ")).join("; ");
}

/** Headers of every response Next answers (next.config.ts); the CSP comes from proxy.ts, per request. */
export const STATIC_SECURITY_HEADERS: Array<{ key: string; value: string }> = [
  { key: "X-Content-Type-Options", value: "nosniff" },
  { key: "Referrer-Policy", value: "same-origin" },
  { key: "X-Frame-Options", value: "DENY" },
  // Nothing here uses these; a page that is tricked into asking gets no prompt.
  { key: "Permissions-Policy", value: "camera=(), microphone=(), geolocation=(), payment=(), usb=()" },
];
