import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { linearChain } from "@/e2e/fixtures/large-workflows";
import { createEditorStore, type EditorStore } from "./editor-store";
import { documentOf, HistoryGrouping, INVALID_FIELD, parseJsonText, TYPING_WINDOW_MS, WORKFLOW_FIELDS } from "./editor-history";

const twoSteps: WorkflowDefinition = {
  id: "wf",
  name: "Two steps",
  schemaVersion: 1,
  steps: [
    { id: "a", type: "transform", config: { output: 1 }, position: { x: 0, y: 0 } },
    { id: "b", type: "transform", config: { output: 2 }, position: { x: 0, y: 150 } },
  ],
  edges: [{ from: "a", to: "b" }],
};

const open = (definition = twoSteps): EditorStore => createEditorStore({ definition, savedVersion: 1 });
const past = (store: EditorStore) => store.temporal.getState().pastStates.length;
const future = (store: EditorStore) => store.temporal.getState().futureStates.length;
const ids = (store: EditorStore) => store.getState().nodes.map((n) => n.id);
const configOf = (store: EditorStore, id: string) => store.getState().nodes.find((n) => n.id === id)?.data.config;

/** Moves a step the way React Flow reports a drag: positions while dragging, then the end. */
function dragStep(store: EditorStore, id: string, to: { x: number; y: number }, moves = 5) {
  const from = store.getState().nodes.find((n) => n.id === id)!.position;
  for (let i = 1; i <= moves; i++)
    store.getState().onNodesChange([{ id, type: "position", dragging: true, position: { x: from.x + ((to.x - from.x) * i) / moves, y: from.y + ((to.y - from.y) * i) / moves } }]);
  store.getState().onNodesChange([{ id, type: "position", dragging: false }]);
}

describe("editor undo/redo", () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ["Date"] }));
  afterEach(() => vi.useRealTimers());

  it("undoes and redoes adding a step, one entry each", () => {
    const store = open();
    expect(past(store)).toBe(0);
    const id = store.getState().addStep("llm", { x: 10, y: 300 });
    expect(ids(store)).toEqual(["a", "b", id]);
    expect(store.getState().selectedId).toBe(id);
    expect(past(store)).toBe(1);
    store.getState().undo();
    expect(ids(store)).toEqual(["a", "b"]);
    expect(store.getState().selectedId).toBeNull(); // the selected step is gone
    expect(past(store)).toBe(0);
    expect(future(store)).toBe(1);
    store.getState().redo();
    expect(ids(store)).toEqual(["a", "b", id]);
    expect(future(store)).toBe(0);
  });

  it("a deletion (edges, then steps, as React Flow reports it) is one entry, and undo brings both back", () => {
    const store = open();
    store.getState().onEdgesChange([{ id: "a->b", type: "remove" }]);
    store.getState().onNodesChange([{ id: "b", type: "remove" }]);
    expect(ids(store)).toEqual(["a"]);
    expect(store.getState().edges).toHaveLength(0);
    expect(past(store)).toBe(1);
    store.getState().undo();
    expect(ids(store)).toEqual(["a", "b"]);
    expect(store.getState().edges.map((e) => e.id)).toEqual(["a->b"]);
  });

  it("undoes connecting and disconnecting", () => {
    const store = open();
    store.getState().onConnect({ source: "b", target: "a", sourceHandle: null, targetHandle: null });
    expect(store.getState().edges.map((e) => e.id)).toEqual(["a->b", "b->a"]);
    store.getState().onEdgesChange([{ id: "a->b", type: "remove" }]);
    return Promise.resolve().then(() => {
      // (a later task: a separate entry)
      expect(store.getState().edges.map((e) => e.id)).toEqual(["b->a"]);
      store.getState().undo();
      expect(store.getState().edges.map((e) => e.id)).toEqual(["a->b", "b->a"]);
      store.getState().undo();
      expect(store.getState().edges.map((e) => e.id)).toEqual(["a->b"]);
    });
  });

  it("a drag is one entry: undo puts the step back where the drag started", () => {
    const store = open();
    dragStep(store, "b", { x: 300, y: 400 });
    expect(store.getState().nodes[1].position).toEqual({ x: 300, y: 400 });
    expect(past(store)).toBe(1);
    dragStep(store, "b", { x: 500, y: 500 });
    expect(past(store)).toBe(2); // a second drag is a second entry
    store.getState().undo();
    expect(store.getState().nodes[1].position).toEqual({ x: 300, y: 400 });
    store.getState().undo();
    expect(store.getState().nodes[1].position).toEqual({ x: 0, y: 150 });
  });

  it("selection and measuring are not edits: no entry, not dirty", () => {
    const store = open();
    store.getState().onNodesChange([{ id: "a", type: "select", selected: true }]);
    store.getState().onNodesChange([{ id: "a", type: "dimensions", dimensions: { width: 208, height: 50 }, setAttributes: true }]);
    store.getState().onEdgesChange([{ id: "a->b", type: "select", selected: true }]);
    store.getState().select("a");
    expect(past(store)).toBe(0);
    expect(store.getState().dirty).toBe(false);
  });

  it("typing in one field is one entry; a pause or another field starts a new one", () => {
    const store = open();
    for (const name of ["F", "Fi", "Fir", "Firs", "First"]) {
      store.getState().updateStep("a", { name }, "name");
      vi.advanceTimersByTime(200);
    }
    expect(past(store)).toBe(1);
    store.getState().updateStep("b", { name: "Other" }, "name");
    expect(past(store)).toBe(2);
    vi.advanceTimersByTime(TYPING_WINDOW_MS + 1);
    store.getState().updateStep("b", { name: "Other step" }, "name");
    expect(past(store)).toBe(3);
    store.getState().undo();
    store.getState().undo();
    expect(store.getState().nodes.map((n) => n.data.name)).toEqual(["First", undefined]);
    store.getState().undo();
    expect(store.getState().nodes.map((n) => n.data.name)).toEqual([undefined, undefined]);
  });

  it("renaming a step letter by letter is one entry, and the edges follow both ways", () => {
    const store = open();
    for (const id of ["ab", "abc", "abcd"]) store.getState().renameStep(store.getState().nodes[0].id, id);
    expect(ids(store)).toEqual(["abcd", "b"]);
    expect(store.getState().edges[0]).toMatchObject({ source: "abcd", id: "abcd->b" });
    expect(past(store)).toBe(1);
    store.getState().undo();
    expect(ids(store)).toEqual(["a", "b"]);
    expect(store.getState().edges[0]).toMatchObject({ source: "a", id: "a->b" });
  });

  it("workflow settings are undoable", () => {
    const store = open();
    store.getState().setMeta({ name: "Renamed" }, "name");
    store.getState().setMeta({ vars: { n: 1 } });
    store.getState().undo();
    expect(store.getState().meta.vars).toBeUndefined();
    store.getState().undo();
    expect(store.getState().meta.name).toBe("Two steps");
  });

  it("a new edit drops the redo entries", () => {
    const store = open();
    store.getState().addStep("llm", { x: 0, y: 300 });
    store.getState().undo();
    expect(future(store)).toBe(1);
    store.getState().addStep("transform", { x: 0, y: 300 });
    expect(future(store)).toBe(0);
  });

  it("undo keeps what React Flow measured and the current selection", () => {
    const store = open();
    store.getState().onNodesChange([{ id: "a", type: "dimensions", dimensions: { width: 208, height: 50 }, setAttributes: true }]);
    store.getState().updateStep("a", { name: "x" });
    store.getState().onNodesChange([{ id: "a", type: "dimensions", dimensions: { width: 208, height: 80 }, setAttributes: true }]);
    store.getState().onNodesChange([{ id: "a", type: "select", selected: true }]);
    store.getState().undo();
    const a = store.getState().nodes[0];
    expect(a.data.name).toBeUndefined();
    expect(a.measured).toEqual({ width: 208, height: 80 });
    expect(a.selected).toBe(true);
  });

  it("replacing the definition (restore, import) is one entry", () => {
    const store = open();
    store.getState().loadDefinition({ ...twoSteps, name: "Imported", steps: [twoSteps.steps[0]], edges: [] });
    expect(ids(store)).toEqual(["a"]);
    expect(store.getState().dirty).toBe(true); // not saved
    store.getState().undo();
    expect(ids(store)).toEqual(["a", "b"]);
    expect(store.getState().meta.name).toBe("Two steps");
    expect(store.getState().dirty).toBe(false);
  });

  it("run events are no edits", () => {
    const store = open();
    store.getState().startRun("r1");
    store.getState().applyRunEvent({ type: "run.status", runId: "r1", seq: 1, status: "running", at: new Date().toISOString() } as never);
    expect(past(store)).toBe(0);
    expect(store.getState().dirty).toBe(false);
  });
});

describe("unsaved changes", () => {
  it("dirty is whether the state differs from the saved one: undo back to it is clean, undo past a save is not", () => {
    const store = open();
    store.getState().updateStep("a", { name: "one" });
    expect(store.getState().dirty).toBe(true);
    store.getState().undo();
    expect(store.getState().dirty).toBe(false);
    store.getState().redo();
    store.getState().markSaved(2);
    expect(store.getState().dirty).toBe(false);
    store.getState().undo();
    expect(store.getState().dirty).toBe(true);
    store.getState().redo();
    expect(store.getState().dirty).toBe(false);
  });

  it("typing the saved value back is clean again", () => {
    const store = open();
    store.getState().updateStep("a", { config: { output: 5 } }, "config.output");
    store.getState().updateStep("a", { config: { output: 1 } }, "config.output");
    expect(store.getState().dirty).toBe(false);
  });

  it("changes made while a save was on its way stay unsaved", () => {
    const store = open();
    store.getState().updateStep("a", { name: "sent" });
    const basis = documentOf(store.getState());
    store.getState().updateStep("a", { name: "typed during the save" });
    store.getState().markSaved(2, basis);
    expect(store.getState().dirty).toBe(true);
    expect(store.getState().savedVersion).toBe(2);
  });

  it("restoring a saved version makes it the saved state; undo goes back to the edits, unsaved", () => {
    const store = open();
    store.getState().updateStep("a", { name: "edit" });
    store.getState().loadDefinition({ ...twoSteps, name: "v1 again" }, 3);
    expect(store.getState()).toMatchObject({ dirty: false, savedVersion: 3, isNew: false });
    store.getState().undo();
    expect(store.getState().nodes[0].data.name).toBe("edit");
    expect(store.getState().dirty).toBe(true);
  });

  it("a restored draft is unsaved; discarding goes back to the saved state, and is undoable", () => {
    const store = open();
    store.getState().restoreDraft({ ...twoSteps, name: "Draft" }, { a: { outputSchema: { text: "{", error: "not valid JSON: x" } } });
    expect(store.getState().meta.name).toBe("Draft");
    expect(store.getState().dirty).toBe(true);
    expect(store.getState().issues[0]).toMatchObject({ code: INVALID_FIELD, stepId: "a" });
    store.getState().discardChanges();
    expect(store.getState().meta.name).toBe("Two steps");
    expect(store.getState().invalidFields).toEqual({});
    expect(store.getState().issues).toEqual([]);
    expect(store.getState().dirty).toBe(false);
    store.getState().undo();
    expect(store.getState().meta.name).toBe("Draft");
  });
});

describe("invalid field texts", () => {
  const invalid = { text: '{ "type": ', error: "not valid JSON: Unexpected end of JSON input" };

  it("are kept per step and field, shown as issues naming both, and make the state unsaved", () => {
    const store = open();
    store.getState().setInvalidField("a", "outputSchema", invalid);
    expect(store.getState().invalidFields).toEqual({ a: { outputSchema: invalid } });
    expect(store.getState().issues).toEqual([
      { code: INVALID_FIELD, stepId: "a", field: "outputSchema", message: 'Step "a", field "outputSchema": not valid JSON: Unexpected end of JSON input' },
    ]);
    expect(store.getState().dirty).toBe(true);
    // Selecting another step does not touch them.
    store.getState().select("b");
    expect(store.getState().invalidFields.a.outputSchema.text).toBe('{ "type": ');
    // The validator's issues come on top of them.
    store.getState().setIssues([{ code: "X", message: "other", stepId: "b" }]);
    expect(store.getState().issues.map((i) => i.code)).toEqual([INVALID_FIELD, "X"]);
    // Fixed: gone, and clean again.
    store.getState().setInvalidField("a", "outputSchema", undefined);
    expect(store.getState().invalidFields).toEqual({});
    expect(store.getState().issues.map((i) => i.code)).toEqual(["X"]);
    expect(store.getState().dirty).toBe(false);
  });

  it("workflow settings' texts name the workflow", () => {
    const store = open();
    store.getState().setInvalidField(WORKFLOW_FIELDS, "vars", invalid);
    expect(store.getState().issues[0].message).toBe('Workflow settings, field "vars": not valid JSON: Unexpected end of JSON input');
    expect(store.getState().issues[0].stepId).toBeUndefined();
  });

  it("follow a renamed step, go with a deleted one, and come back with undo", () => {
    const store = open();
    store.getState().setInvalidField("a", "assign", invalid);
    store.getState().renameStep("a", "first");
    expect(store.getState().invalidFields).toEqual({ first: { assign: invalid } });
    expect(store.getState().issues[0].stepId).toBe("first");
    store.getState().onNodesChange([{ id: "first", type: "remove" }]);
    expect(store.getState().invalidFields).toEqual({});
    expect(store.getState().issues).toEqual([]);
    store.getState().undo();
    expect(store.getState().invalidFields).toEqual({ first: { assign: invalid } });
    expect(store.getState().issues[0].stepId).toBe("first");
  });

  it("typing a valid value after invalid text is one undo entry with it", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      const store = open();
      store.getState().setInvalidField("a", "config.output", { text: "{", error: "x" });
      store.getState().updateStep("a", { config: { output: {} } }, "config.output");
      store.getState().setInvalidField("a", "config.output", undefined);
      expect(past(store)).toBe(1);
      store.getState().undo();
      expect(configOf(store, "a")).toEqual({ output: 1 });
      expect(store.getState().invalidFields).toEqual({});
    } finally {
      vi.useRealTimers();
    }
  });

  it("parseJsonText: empty is no value, bad JSON says why", () => {
    expect(parseJsonText("  ")).toEqual({ ok: true, value: undefined });
    expect(parseJsonText('{"a":1}')).toEqual({ ok: true, value: { a: 1 } });
    const bad = parseJsonText("{ a");
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toMatch(/^not valid JSON: /);
  });
});

describe("HistoryGrouping", () => {
  it("joins changes of one key within the window, and starts over after break()", () => {
    let now = 0;
    const grouping = new HistoryGrouping(() => now);
    const key = { key: "k", windowMs: 1000 };
    grouping.next(key);
    expect(grouping.shouldRecord()).toBe(true);
    now = 900;
    expect(grouping.shouldRecord()).toBe(false);
    now = 1800; // within the window of the last change, not of the first
    expect(grouping.shouldRecord()).toBe(false);
    grouping.break();
    expect(grouping.shouldRecord()).toBe(true);
    grouping.next("skip");
    expect(grouping.shouldRecord()).toBe(false);
    grouping.next(undefined);
    expect(grouping.shouldRecord()).toBe(true);
    expect(grouping.shouldRecord()).toBe(true);
  });
});

describe("a 5,000-step workflow", () => {
  it("keeps a keystroke, a selection and an undo cheap", () => {
    const store = open({ ...linearChain(5000), schemaVersion: 1 });
    const last = store.getState().nodes[4999].id;
    const time = (fn: () => void, times: number) => {
      const start = performance.now();
      for (let i = 0; i < times; i++) fn();
      return (performance.now() - start) / times;
    };
    let n = 0;
    const keystroke = time(() => store.getState().updateStep(last, { name: `name ${n++}` }, "name"), 200);
    const selection = time(() => store.getState().onNodesChange([{ id: last, type: "select", selected: n++ % 2 === 0 }]), 200);
    const undoRedo = time(() => {
      store.getState().undo();
      store.getState().redo();
    }, 50);
    console.log(`5,000 steps: keystroke ${keystroke.toFixed(2)} ms, selection ${selection.toFixed(2)} ms, undo+redo ${undoRedo.toFixed(2)} ms`);
    // Generous bounds for a loaded 2-core machine; typically well under 1 ms / 2 ms.
    expect(keystroke).toBeLessThan(10);
    expect(selection).toBeLessThan(10);
    expect(undoRedo).toBeLessThan(40);
  });
});

describe("read-only editor (view access)", () => {
  const openReadOnly = () => createEditorStore({ definition: twoSteps, savedVersion: 1, readOnly: true });

  it("refuses every change to the workflow, whatever the UI lets through", () => {
    const store = openReadOnly();
    const before = documentOf(store.getState());
    store.getState().addStep("llm", { x: 0, y: 300 });
    store.getState().updateStep("a", { config: { output: 99 } }, "config.output");
    store.getState().renameStep("a", "renamed");
    store.getState().setMeta({ name: "changed" }, "name");
    store.getState().setInvalidField("a", "config.output", { text: "{", error: "not JSON" });
    store.getState().onNodesChange([{ id: "a", type: "remove" }]);
    store.getState().onEdgesChange([{ id: store.getState().edges[0].id, type: "remove" }]);
    store.getState().onConnect({ source: "b", target: "a", sourceHandle: null, targetHandle: null });
    dragStep(store, "b", { x: 400, y: 400 });
    store.getState().importDefinition({ ...twoSteps, steps: [] }, []);
    store.getState().loadDefinition({ ...twoSteps, name: "other" });
    store.getState().restoreDraft({ ...twoSteps, name: "draft" }, {});
    expect(documentOf(store.getState())).toEqual(before);
    expect(store.getState().dirty).toBe(false);
    expect(past(store)).toBe(0);
  });

  it("still selects steps and takes their measured sizes", () => {
    const store = openReadOnly();
    store.getState().onNodesChange([{ id: "a", type: "select", selected: true }]);
    store.getState().onNodesChange([{ id: "b", type: "dimensions", dimensions: { width: 321, height: 55 } }]);
    expect(store.getState().nodes.find((n) => n.id === "a")?.selected).toBe(true);
    expect(store.getState().nodes.find((n) => n.id === "b")?.measured).toEqual({ width: 321, height: 55 });
    store.getState().select("b");
    expect(store.getState().selectedId).toBe("b");
    expect(store.getState().dirty).toBe(false);
  });
});
