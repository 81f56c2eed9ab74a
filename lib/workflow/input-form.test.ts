import { describe, expect, it } from "vitest";
import { runInputProblems, validateRunInput } from "./input";
import { editInput, formPaths, hasInputFields, initialValue, inputField, newItem, runInputMode, setValueAt, withoutStaleErrors, type InputField } from "./input-form";

const ticket = {
  type: "object",
  required: ["title", "priority", "address"],
  properties: {
    title: { type: "string", title: "Title", description: "one line" },
    count: { type: "integer", default: 2 },
    ratio: { type: ["number", "null"] },
    urgent: { type: "boolean" },
    notify: { type: "boolean", default: true },
    priority: { enum: ["low", "mid", "high"] },
    address: { type: "object", required: ["city"], properties: { city: { type: "string" }, zip: { type: "string" } } },
    billing: { type: "object", required: ["iban"], properties: { iban: { type: "string" } } },
    tags: { type: "array", items: { type: "string" } },
    contacts: { type: "array", items: { type: "object", required: ["name"], properties: { name: { type: "string" }, age: { type: "number" } } } },
    extra: { oneOf: [{ type: "string" }, { type: "number" }] },
  },
};

describe("run form: schema → fields", () => {
  it("turns each kind of property into its field, with title, description, default and required", () => {
    const field = inputField(ticket);
    expect(field.kind).toBe("object");
    const byName = Object.fromEntries((field as Extract<InputField, { kind: "object" }>).properties.map((p) => [p.name, p]));
    expect(byName.title).toEqual({ name: "title", required: true, field: { kind: "string", title: "Title", description: "one line" } });
    expect(byName.count.field).toEqual({ kind: "number", integer: true, default: 2 });
    expect(byName.ratio.field).toEqual({ kind: "number", integer: false }); // nullable: still a number field
    expect(byName.urgent.field).toEqual({ kind: "boolean" });
    expect(byName.priority).toMatchObject({ required: true, field: { kind: "enum", choices: ["low", "mid", "high"] } });
    expect(byName.address).toMatchObject({ required: true, field: { kind: "object", properties: [{ name: "city", required: true }, { name: "zip", required: false }] } });
    expect(byName.tags.field).toEqual({ kind: "array", item: { kind: "string" } });
    expect(byName.contacts.field).toMatchObject({ kind: "array", item: { kind: "object", properties: [{ name: "name", required: true }, { name: "age" }] } });
    expect(byName.extra.field).toEqual({ kind: "json" }); // a combinator: edited as JSON
  });

  it("says when Run must ask for input: an object with properties, or any other input with a field", () => {
    expect(hasInputFields(ticket)).toBe(true);
    expect(hasInputFields({ type: "object" })).toBe(false);
    expect(hasInputFields({ type: "array", items: { type: "string" } })).toBe(true);
    expect(hasInputFields(undefined)).toBe(false);
    expect(hasInputFields({ anyOf: [] })).toBe(false);
    expect(runInputMode(ticket)).toBe("form");
    expect(runInputMode({ type: "object", properties: { a: { type: "string" } }, oneOf: [{ required: ["a"] }] })).toBe("json");
    expect(runInputMode({ type: "object" })).toBeUndefined();
    expect(runInputMode(undefined)).toBeUndefined();
  });

  it("starts from the defaults, false for required checkboxes; optional sections start absent", () => {
    expect(initialValue(inputField(ticket))).toEqual({ count: 2, notify: true, address: {} });
    expect(initialValue(inputField({ type: "object", required: ["ok", "list"], properties: { ok: { type: "boolean" }, list: { type: "array", items: { type: "number" } } } }))).toEqual({ ok: false, list: [] });
    expect(initialValue(inputField({ type: "object", default: { a: 1 }, properties: { a: { type: "number" } } }))).toEqual({ a: 1 });
  });

  it("new list items are empty values of their kind (null for a number not typed yet)", () => {
    expect(newItem({ kind: "string" })).toBe("");
    expect(newItem({ kind: "number", integer: false })).toBeNull();
    expect(newItem({ kind: "enum", choices: ["x", "y"] })).toBe("x");
    expect(newItem(inputField({ type: "object", required: ["on"], properties: { on: { type: "boolean" }, name: { type: "string" } } }))).toEqual({ on: false });
  });
});

describe("run form: building the value", () => {
  const field = inputField(ticket);

  it("sets nested values, creating the objects and lists on the way, without changing the value it was given", () => {
    const start = { count: 2 };
    const edited = editInput(field, start, ["address", "city"], "Lyon");
    expect(edited).toEqual({ count: 2, address: { city: "Lyon" } });
    expect(start).toEqual({ count: 2 });
    expect(editInput(field, edited, ["tags", 1], "b")).toEqual({ count: 2, address: { city: "Lyon" }, tags: [null, "b"] });
    expect(setValueAt({ contacts: [{ name: "A" }] }, ["contacts", 0, "age"], 30)).toEqual({ contacts: [{ name: "A", age: 30 }] });
  });

  it("a cleared field is removed; an optional section left empty goes with it, a required one stays", () => {
    expect(editInput(field, { title: "t", billing: { iban: "X" } }, ["billing", "iban"], undefined)).toEqual({ title: "t" });
    expect(editInput(field, { address: { city: "Lyon" } }, ["address", "city"], undefined)).toEqual({ address: {} });
    expect(editInput(field, { contacts: [{ name: "A" }] }, ["contacts", 0, "name"], undefined)).toEqual({ contacts: [{}] });
    expect(editInput(field, { tags: ["a", "b"] }, ["tags", 0], undefined)).toEqual({ tags: [null, "b"] });
  });

  it("lists the paths the form shows for a value, list items as many as it has", () => {
    const paths = formPaths(field, { contacts: [{ name: "A" }], tags: ["a", "b"] });
    expect(paths).toEqual(expect.arrayContaining(["", "title", "address", "address.city", "tags", "tags.0", "tags.1", "contacts", "contacts.0", "contacts.0.name", "contacts.0.age", "extra"]));
    expect(paths).not.toContain("tags.2");
  });

  it("an edit drops the errors it makes stale: the field's, those inside it and those of what holds it", () => {
    const errors = { priority: "must be one of: low, mid, high", "address.city": "is required", tags: "must NOT have fewer than 2 items", "contacts.0.name": "is required" };
    expect(withoutStaleErrors(errors, ["priority"])).toEqual({ "address.city": "is required", tags: "must NOT have fewer than 2 items", "contacts.0.name": "is required" });
    expect(Object.keys(withoutStaleErrors(errors, ["tags", 0]))).toEqual(["priority", "address.city", "contacts.0.name"]);
    expect(Object.keys(withoutStaleErrors(errors, ["contacts"]))).toEqual(["priority", "address.city", "tags"]);
  });
});

describe("run form: the server's check, by field", () => {
  it("names each problem's field path, lists enum choices and fills defaults before checking", () => {
    const problems = runInputProblems(ticket, { priority: "urgent", address: {}, tags: ["a", 3], contacts: [{ age: "old" }] });
    expect(problems).toEqual(
      expect.arrayContaining([
        { path: ["title"], message: "is required" },
        { path: ["priority"], message: "must be one of: low, mid, high" },
        { path: ["address", "city"], message: "is required" },
        { path: ["tags", "1"], message: "must be string" },
        { path: ["contacts", "0", "name"], message: "is required" },
        { path: ["contacts", "0", "age"], message: "must be number" },
      ]),
    );
    expect(problems.some((p) => p.path[0] === "count")).toBe(false);
    expect(runInputProblems(ticket, { title: "t", priority: "low", address: { city: "Lyon" } })).toEqual([]);
    expect(runInputProblems({ enum: [1, null, "x"] }, 2)).toEqual([{ path: [], message: "must be one of: 1, null, x" }]);
  });

  it("the server's message for a run names the choices too", () => {
    const def = { id: "w", name: "w", input: ticket, steps: [{ id: "a", type: "transform" as const, config: { output: 1 } }] };
    expect(validateRunInput(def, { title: "t", priority: "urgent", address: { city: "Lyon" } }).issues).toEqual([
      { code: "INVALID_INPUT", field: "input.priority", message: "input.priority: must be one of: low, mid, high" },
    ]);
  });
});
