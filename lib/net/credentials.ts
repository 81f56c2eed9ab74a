/**
 * Credentials written into a request by hand (an Authorization header, `?api_key=` in a URL), redacted in what is
 * logged and shown of it; the request itself carries them. Values that are already secret markers
 * (`[secret:NAME]`, lib/engine/redact.ts) stay: they say which secret was sent.
 */

export const REDACTED = "[redacted]";
export const ONLY_MARKERS = /^(\[secret:[A-Z][A-Z0-9_]*\])+$/;

const compact = (name: string) => name.toLowerCase().replace(/[-_.\s]/g, "");

const SENSITIVE_HEADERS = new Set(["authorization", "proxyauthorization", "cookie", "setcookie", "xapikey", "apikey", "key"]);
const SENSITIVE_PARAMS = new Set(["key", "auth", "sig", "pass", "pwd", "session", "sessionid", "authorization", "credential", "credentials"]);
const SENSITIVE_PART = /token|secret|passw|signature|apikey|accesskey|privatekey|credential/;

/** Headers whose values are credentials: Authorization, Proxy-Authorization, Cookie, X-Api-Key, *-Token, *-Secret… */
export const isSensitiveHeader = (name: string) => {
  const n = compact(name);
  return SENSITIVE_HEADERS.has(n) || SENSITIVE_PART.test(n) || /auth|session|cookie/.test(n);
};

/** Query parameters whose values are credentials: api_key, apikey, token, access_token, key, secret, password, signature… */
export const isSensitiveParam = (name: string) => {
  const n = compact(name);
  return SENSITIVE_PARAMS.has(n) || SENSITIVE_PART.test(n);
};

/**
 * A credential as shown: its scheme stays (`Bearer [redacted]`), and a value that is only secret markers stays as it
 * is (`Bearer [secret:API_KEY]`, already redacted and more telling).
 */
export function redactCredential(value: string): string {
  const scheme = /^([A-Za-z][A-Za-z0-9-]*)(\s+)([\s\S]*)$/.exec(value);
  const [prefix, rest] = scheme ? [scheme[1] + scheme[2], scheme[3]] : ["", value];
  if (ONLY_MARKERS.test(rest.trim())) return value;
  return `${prefix}${REDACTED}`;
}

const safeDecode = (text: string) => {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
};

/** `name=value&…` with the values of sensitive names replaced (as written otherwise, not re-encoded). */
function redactParams(text: string): string {
  return text
    .split("&")
    .map((pair) => {
      const eq = pair.indexOf("=");
      if (eq < 0 || !isSensitiveParam(safeDecode(pair.slice(0, eq)))) return pair;
      return ONLY_MARKERS.test(safeDecode(pair.slice(eq + 1))) ? pair : `${pair.slice(0, eq + 1)}${REDACTED}`;
    })
    .join("&");
}

/** A URL with its password (`user:pass@`) and the values of sensitive query (and fragment) parameters redacted. */
export function redactUrl(url: string): string {
  let out = url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):([^/?#@]*)@/i, (whole, head: string, password: string) =>
    ONLY_MARKERS.test(password) ? whole : `${head}:${REDACTED}@`,
  );
  const query = out.indexOf("?");
  const hash = out.indexOf("#");
  if (hash >= 0 && out.slice(hash + 1).includes("=")) out = out.slice(0, hash + 1) + redactParams(out.slice(hash + 1));
  if (query >= 0 && (hash < 0 || query < hash)) {
    const end = hash >= 0 ? hash : out.length;
    out = out.slice(0, query + 1) + redactParams(out.slice(query + 1, end)) + out.slice(end);
  }
  return out;
}
