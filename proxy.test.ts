import { NextRequest } from "next/server";
import { describe, expect, it } from "vitest";
import { ACTION_NESTING_GATE, config, proxy } from "./proxy";

/**
 * The gate in front of React's server-action decoder, called as Next calls it. (That Next runs it before
 * decoding was checked against a running server: see ARCHITECTURE.md, "Nesting limit".)
 */
const nested = (levels: number) => `${"[".repeat(levels)}${"]".repeat(levels)}`;
const action = (body: BodyInit, contentType?: string) =>
  new NextRequest("http://127.0.0.1:3000/workflows/w1", {
    method: "POST",
    headers: { "next-action": "40abc", ...(contentType ? { "content-type": contentType } : {}) },
    body,
  });
const passes = (response: Response) => response.headers.get("x-middleware-next") === "1";

describe("server action nesting gate (proxy.ts)", () => {
  it("answers 400 naming the nesting limit for arguments nested 5,000 or 100,000 levels, as text or as form rows", async () => {
    for (const request of [
      action(`["w1",${nested(5000)}]`, "text/plain;charset=UTF-8"),
      action(`[${nested(100_000)}]`, "text/plain;charset=UTF-8"),
      (() => {
        const form = new FormData();
        form.set("0", '["$1"]');
        form.set("1", nested(100_000));
        return action(form);
      })(),
    ]) {
      const answer = await proxy(request);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toEqual({
        error: { code: "INVALID_INPUT", message: `the server action's arguments are nested more than ${ACTION_NESTING_GATE} levels deep (the nesting limit, ORCHESTRATOR_MAX_JSON_DEPTH, is lower); flatten them` },
      });
    }
  });

  it("lets everything the action's own checks can name through: deeper than the limit but below the gate, and form fields that are text", async () => {
    expect(ACTION_NESTING_GATE).toBe(1004);
    expect(passes(await proxy(action(`[${nested(1000)}]`, "text/plain;charset=UTF-8")))).toBe(true);
    expect(passes(await proxy(action('[{"id":"w","name":"w","steps":[]}]', "text/plain;charset=UTF-8")))).toBe(true);
    const form = new FormData();
    form.set("0", '["$1"]');
    form.set("1", "plain text, not JSON");
    expect(passes(await proxy(action(form)))).toBe(true);
  });

  it("answers 400 for a text body that is not JSON (React's decoder would throw: a 500)", async () => {
    for (const body of ["not json [[[[", "", "\ud800"]) {
      const answer = await proxy(action(body, "text/plain;charset=UTF-8"));
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject({ error: { code: "INVALID_INPUT", message: expect.stringMatching(/not valid JSON/) } });
    }
  });

  it("runs only for action calls", () => {
    expect(config.matcher).toEqual([{ source: "/:path*", has: [{ type: "header", key: "next-action" }] }]);
  });
});
