import { isSensitiveHeader, isSensitiveParam, ONLY_MARKERS, redactCredential, REDACTED, redactUrl } from "@/lib/net/credentials";
import type { SerializedError } from "./errors";

/**
 * What the runner stores or sends about a step never holds a secret: the values of the secrets a run resolved
 * become `[secret:NAME]` in rendered configs, outputs, errors, log lines and streamed text (SecretRedactor), and
 * credentials written into an http step's config by hand (an Authorization header, `?api_key=` in the URL) become
 * `[redacted]` in what is shown of it (displayConfig). The request itself carries the real values.
 */

export const secretMarker = (name: string) => `[secret:${name}]`;
const MARKER = /\[secret:[A-Z][A-Z0-9_]*\]/;

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The forms a value takes in text besides its own: inside a JSON string (a response body echoing it, kept as text),
 * percent-encoded in a URL (a query parameter) or form-encoded.
 */
function forms(value: string): string[] {
  const found = new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2)]);
  return [...found].filter((form) => form.length > 0);
}

/** Replaces the values (and their encoded forms) of a run's secrets with `[secret:NAME]`, in one pass. */
export class SecretRedactor {
  private readonly pattern?: RegExp;
  private readonly nameOf = new Map<string, string>();
  /** Every form of every value, longest first (so a value inside a longer one does not cut it). */
  private readonly forms: string[] = [];

  constructor(secrets: Iterable<readonly [name: string, value: string]> = []) {
    for (const [name, value] of secrets) for (const form of forms(value)) if (!this.nameOf.has(form)) this.nameOf.set(form, name);
    this.forms = [...this.nameOf.keys()].sort((a, b) => b.length - a.length);
    // One alternation, one pass. Markers are matched too, after the values (which win where both start): text
    // redacted before (an output a later step reads) keeps its markers as they are, although a value may be part
    // of one ("secret", a name), and a marker put in is never scanned again.
    if (this.forms.length) this.pattern = new RegExp([...this.forms.map(escapeRegExp), MARKER.source].join("|"), "g");
  }

  get active(): boolean {
    return this.pattern !== undefined;
  }

  text(text: string): string {
    if (!this.pattern || !text) return text;
    return text.replace(this.pattern, (found) => {
      const name = this.nameOf.get(found);
      return name === undefined ? found : secretMarker(name);
    });
  }

  /** Whether the text holds a value (markers found on the way are not values). */
  private contains(text: string): boolean {
    if (!this.pattern) return false;
    this.pattern.lastIndex = 0;
    let hit = false;
    for (let match = this.pattern.exec(text); match && !hit; match = this.pattern.exec(text)) hit = this.nameOf.has(match[0]);
    this.pattern.lastIndex = 0;
    return hit;
  }

  /**
   * A JSON value with every string (keys too) redacted; the value itself when nothing in it is a secret (the
   * common case: one walk, no copy). Iterative: outputs may be nested up to the nesting limit.
   */
  value<T>(value: T): T {
    if (!this.pattern) return value;
    if (typeof value === "string") return this.text(value) as T;
    if (value === null || typeof value !== "object" || !this.anyString(value)) return value;
    const root: { value: unknown } = { value: undefined };
    const stack: Array<{ source: unknown; target: Record<string | number, unknown>; key: string | number }> = [{ source: value, target: root, key: "value" }];
    while (stack.length) {
      const { source, target, key } = stack.pop()!;
      if (typeof source === "string") target[key] = this.text(source);
      else if (Array.isArray(source)) {
        const copy: unknown[] = new Array(source.length);
        target[key] = copy;
        for (let i = 0; i < source.length; i++) stack.push({ source: source[i], target: copy as unknown as Record<number, unknown>, key: i });
      } else if (source !== null && typeof source === "object") {
        const copy: Record<string, unknown> = {};
        target[key] = copy;
        for (const [k, v] of Object.entries(source)) stack.push({ source: v, target: copy, key: this.text(k) });
      } else target[key] = source;
    }
    return root.value as T;
  }

  private anyString(value: object): boolean {
    const stack: unknown[] = [value];
    while (stack.length) {
      const item = stack.pop();
      if (typeof item === "string") {
        if (this.contains(item)) return true;
      } else if (Array.isArray(item)) stack.push(...item);
      else if (item !== null && typeof item === "object")
        for (const [k, v] of Object.entries(item)) {
          if (this.contains(k)) return true;
          stack.push(v);
        }
    }
    return false;
  }

  error<E extends SerializedError>(error: E): E {
    return this.pattern && this.contains(error.message) ? { ...error, message: this.text(error.message) } : error;
  }

  /**
   * A thrown error with the secrets taken out of its message (and stack), in place, so its class, code and
   * `retryable` stay; its cause is dropped when it held one. Anything else thrown becomes an Error.
   */
  scrub(err: unknown): unknown {
    if (!this.pattern) return err;
    if (!(err instanceof Error)) return typeof err === "string" ? this.text(err) : err;
    if (this.contains(err.message) || (err.stack && this.contains(err.stack))) {
      err.message = this.text(err.message);
      if (err.stack) err.stack = this.text(err.stack);
      if (err.cause !== undefined) delete (err as { cause?: unknown }).cause;
    }
    return err;
  }

  /** Redacts streamed text piece by piece (see StreamRedactor). */
  stream(): StreamRedactor {
    return new StreamRedactor(this);
  }

  /** The length of the longest end of `text` that could be the start of a secret's form (0: none). */
  pendingPrefix(text: string): number {
    let longest = 0;
    for (const form of this.forms) {
      const first = form.charCodeAt(0);
      // Starting points from the longest possible start of the form down; only longer than the one found count.
      for (let i = Math.max(0, text.length - form.length + 1); i < text.length - longest; i++) {
        if (text.charCodeAt(i) === first && form.startsWith(text.slice(i))) {
          longest = text.length - i;
          break;
        }
      }
    }
    return longest;
  }
}

/**
 * Streamed text (LLM tokens) arrives in pieces, so a secret can be cut between two of them: the end of what came
 * that may be the start of a secret is held back until the next piece tells, and given out by `flush` when the
 * step ends. Text that cannot start a secret goes out at once.
 */
export class StreamRedactor {
  private held = "";
  constructor(private readonly redactor: SecretRedactor) {}

  push(piece: string): string {
    if (!this.redactor.active) return piece;
    const text = this.redactor.text(this.held + piece);
    const keep = this.redactor.pendingPrefix(text);
    this.held = keep ? text.slice(text.length - keep) : "";
    return keep ? text.slice(0, text.length - keep) : text;
  }

  flush(): string {
    const rest = this.held;
    this.held = "";
    return rest;
  }
}

export const NO_SECRETS = new SecretRedactor();

const isPlainObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * A step's rendered config as stored and shown (the step record's input): credentials an http step carries in its
 * URL, query and headers redacted. Other kinds are shown as rendered (their secrets are redacted by value).
 */
export function displayConfig(stepType: string, config: Record<string, unknown>): Record<string, unknown> {
  if (stepType !== "http") return config;
  const shown = { ...config };
  if (typeof shown.url === "string") shown.url = redactUrl(shown.url);
  if (isPlainObject(shown.headers))
    shown.headers = Object.fromEntries(
      Object.entries(shown.headers).map(([name, value]) => [name, isSensitiveHeader(name) && value !== undefined && value !== null ? redactCredential(String(value)) : value]),
    );
  if (isPlainObject(shown.query))
    shown.query = Object.fromEntries(
      Object.entries(shown.query).map(([name, value]) => [
        name,
        isSensitiveParam(name) && value !== undefined && value !== null && !(typeof value === "string" && ONLY_MARKERS.test(value)) ? REDACTED : value,
      ]),
    );
  return shown;
}

export { redactUrl } from "@/lib/net/credentials";

// ---- the secrets of a run -------------------------------------------------------------------------------------

/** Why a secret a run needs cannot be used: it is not set, or it cannot be decrypted with the current key. */
export interface SecretProblem {
  code: "SECRET_NOT_FOUND" | "SECRET_UNREADABLE";
  /** Ends the sentence "step "x" uses {{ secrets.NAME }}, but …". */
  detail: string;
}

/** The secrets a run resolved for its owner (only the names its definition reads), and their redactor. */
export interface RunSecrets {
  values: ReadonlyMap<string, string>;
  problems: ReadonlyMap<string, SecretProblem>;
  redactor: SecretRedactor;
}

export function runSecrets(values: ReadonlyMap<string, string>, problems: ReadonlyMap<string, SecretProblem> = new Map()): RunSecrets {
  return { values, problems, redactor: new SecretRedactor(values) };
}
