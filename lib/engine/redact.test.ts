import { describe, expect, it } from "vitest";
import { expressionReads } from "@/lib/workflow/expression";
import { secretsReferencedBy } from "@/lib/workflow/secret-refs";
import { validateWorkflow } from "@/lib/workflow/validate";
import { StepError } from "./errors";
import { displayConfig, redactUrl, SecretRedactor } from "./redact";

describe("SecretRedactor", () => {
  const redactor = new SecretRedactor([
    ["API_KEY", "sk-abc123"],
    ["QUOTED", 'pa"ss w/rd'],
    // Part of "[secret:…]": a marker put in must not be redacted again.
    ["WORD", "secret"],
  ]);

  it("replaces every value and its encoded forms with [secret:NAME], in one pass", () => {
    expect(redactor.text("key sk-abc123 and sk-abc123")).toBe("key [secret:API_KEY] and [secret:API_KEY]");
    expect(redactor.text(JSON.stringify({ p: 'pa"ss w/rd' }))).toBe('{"p":"[secret:QUOTED]"}');
    expect(redactor.text(`?p=${encodeURIComponent('pa"ss w/rd')}`)).toBe("?p=[secret:QUOTED]");
    expect(redactor.text(`?p=${new URLSearchParams({ p: 'pa"ss w/rd' }).toString().slice(2)}`)).toBe("?p=[secret:QUOTED]");
    expect(redactor.text("a secret sk-abc123")).toBe("a [secret:WORD] [secret:API_KEY]");
  });

  it("leaves markers of text redacted before as they are, although a value is part of them", () => {
    const once = redactor.text("a secret sk-abc123");
    expect(redactor.text(once)).toBe(once);
    expect(redactor.value({ out: once })).toEqual({ out: once });
    // A value that looks like a marker is still a value.
    expect(new SecretRedactor([["ODD", "[secret:X]"]]).text("is [secret:X]")).toBe("is [secret:ODD]");
    expect(new SecretRedactor([["ODD", "[secret:X] and more"]]).text("is [secret:X] and more")).toBe("is [secret:ODD]");
  });

  it("redacts strings and keys of JSON values without touching values that hold none", () => {
    const clean = { a: [1, "two", { b: null }] };
    expect(redactor.value(clean)).toBe(clean);
    const leaky = { list: ["x sk-abc123", 3], nested: { "sk-abc123": true, deep: [[["sk-abc123"]]] } };
    expect(redactor.value(leaky)).toEqual({ list: ["x [secret:API_KEY]", 3], nested: { "[secret:API_KEY]": true, deep: [[["[secret:API_KEY]"]]] } });
    expect(leaky.list[0]).toBe("x sk-abc123"); // a copy: the original is left as it was
  });

  it("scrubs thrown errors in place, keeping their class, code and retryable", () => {
    const err = new StepError("HTTP_ERROR", "answered 401: bad key sk-abc123", { stepId: "s", retryable: true, cause: new Error("sk-abc123") });
    expect(redactor.scrub(err)).toBe(err);
    expect(err).toMatchObject({ code: "HTTP_ERROR", retryable: true, message: "answered 401: bad key [secret:API_KEY]" });
    expect(err.stack).not.toContain("sk-abc123");
    expect(err.cause).toBeUndefined();
  });

  it("holds back streamed text that may be the start of a secret until the next piece tells", () => {
    const stream = redactor.stream();
    const out = ["Echo: sk-", "ab", "c123 done, sk-a", "nother"].map((piece) => stream.push(piece));
    expect(out).toEqual(["Echo: ", "", "[secret:API_KEY] done, ", "sk-another"]);
    expect(stream.push("end sk-ab")).toBe("end ");
    expect(stream.flush()).toBe("sk-ab");
  });

  it("does nothing without secrets", () => {
    const none = new SecretRedactor();
    expect(none.active).toBe(false);
    expect(none.text("sk-abc123")).toBe("sk-abc123");
    expect(none.stream().push("sk-")).toBe("sk-");
  });
});

describe("credentials written by hand", () => {
  it("redacts sensitive query parameters, fragments and passwords in URLs, keeping the rest as written", () => {
    expect(redactUrl("https://api.example.com/v1/items?q=owls%20bats&api_key=abc&apiKey=d&token=e&access_token=f&key=g&secret=h&password=i&X-Amz-Signature=j&page=2")).toBe(
      "https://api.example.com/v1/items?q=owls%20bats&api_key=[redacted]&apiKey=[redacted]&token=[redacted]&access_token=[redacted]&key=[redacted]&secret=[redacted]&password=[redacted]&X-Amz-Signature=[redacted]&page=2",
    );
    expect(redactUrl("https://user:hunter2@example.com/cb#access_token=xyz&state=1")).toBe("https://user:[redacted]@example.com/cb#access_token=[redacted]&state=1");
    expect(redactUrl("https://example.com/?token=[secret:TOKEN]")).toBe("https://example.com/?token=[secret:TOKEN]");
    expect(redactUrl("https://example.com/path?plain")).toBe("https://example.com/path?plain");
  });

  it("shows an http step's sensitive headers and query values redacted, keeping the scheme and secret markers", () => {
    expect(
      displayConfig("http", {
        url: "https://example.com/?apikey=abc",
        headers: { Authorization: "Bearer abc", "proxy-authorization": "Basic xyz", Cookie: "a=1; b=2", "X-Api-Key": "k", "X-Auth-Token": "t", "X-Token": "Bearer [secret:API_KEY]", Accept: "text/plain" },
        query: { signature: "s", client_secret: "c", page: 1, token: "[secret:TOKEN]" },
      }),
    ).toEqual({
      url: "https://example.com/?apikey=[redacted]",
      headers: {
        Authorization: "Bearer [redacted]",
        "proxy-authorization": "Basic [redacted]",
        Cookie: "[redacted]",
        "X-Api-Key": "[redacted]",
        "X-Auth-Token": "[redacted]",
        "X-Token": "Bearer [secret:API_KEY]",
        Accept: "text/plain",
      },
      query: { signature: "[redacted]", client_secret: "[redacted]", page: 1, token: "[secret:TOKEN]" },
    });
    const llm = { prompt: "Authorization: Bearer abc" };
    expect(displayConfig("llm", llm)).toBe(llm);
  });
});

describe("secret references in expressions", () => {
  it("finds names read as secrets.NAME from the root, and flags any other access", () => {
    expect(expressionReads("secrets.API_KEY & secrets.OTHER.x")).toMatchObject({ secrets: ["API_KEY", "OTHER"] });
    expect(expressionReads("'Bearer ' & $string(secrets.TOKEN)")).toMatchObject({ secrets: ["TOKEN"] });
    expect(expressionReads("input.secrets.a")).not.toHaveProperty("secrets");
    expect(expressionReads("input.items[secrets = 1]")).not.toHaveProperty("dynamicSecrets");
    for (const dynamic of ["$keys(secrets)", "secrets", "secrets[0]", "secrets.*", "$$.secrets.A", "$.secrets.A", "$lookup(secrets, 'A')"])
      expect(expressionReads(dynamic), dynamic).toHaveProperty("dynamicSecrets", true);
    expect(expressionReads("input.a + 1")).toEqual({ steps: [], input: [["a"]], vars: [] });
  });

  it("collects the names a definition's config templates read, map item steps included", () => {
    expect(
      secretsReferencedBy({
        steps: [
          { id: "a", type: "http", config: { url: "https://x/{{ secrets.PATH_KEY }}", headers: { Authorization: "Bearer {{ secrets.API_KEY }}" } } },
          { id: "m", type: "map", config: { items: [1], steps: [{ id: "i", type: "llm", config: { prompt: "{{ secrets.ITEM_KEY }} {{ item }}" } }] } },
          { id: "c", type: "code", config: { code: "return '{{ secrets.NOT_A_TEMPLATE }}'" } },
        ],
      }),
    ).toEqual(["PATH_KEY", "API_KEY", "ITEM_KEY"]);
  });

  it("allows them in the config templates of map item steps, not in the map's own items", () => {
    const secretIssues = (steps: unknown[]) => validateWorkflow({ id: "w", name: "W", steps }).issues.filter((i) => i.code === "INVALID_SECRET_REFERENCE");
    const item = { id: "call", type: "http", config: { url: "https://x/{{ item }}", headers: { Authorization: "Bearer {{ secrets.API_KEY }}" } } };
    expect(secretIssues([{ id: "m", type: "map", config: { items: [1, 2], steps: [item] } }])).toEqual([]);
    expect(secretIssues([{ id: "m", type: "map", config: { items: "{{ secrets.LIST }}", steps: [item] } }])).toEqual([
      {
        code: "INVALID_SECRET_REFERENCE",
        stepId: "m",
        field: "config.items",
        message: 'step "m" field "config.items": a map step cannot use secrets (its items are stored with the run; use secrets in the config of its item steps); use them in http, llm, transform, kilo steps',
      },
    ]);
    expect(secretIssues([{ id: "m", type: "map", config: { items: [1], steps: [{ ...item, assign: { k: "{{ secrets.API_KEY }}" } }] } }])).toMatchObject([
      { field: "config.steps.0.assign.k", message: expect.stringContaining("reads a secret in assign") },
    ]);
  });
});
