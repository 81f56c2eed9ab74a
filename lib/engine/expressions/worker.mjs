// An expression worker thread: evaluates what did not fit the in-line budget, with the full limits. The main
// thread terminates it when it overruns its time (a regular expression that backtracks, a quadratic built-in)
// and Node terminates it when its heap is full; either way only this thread dies.
import { parentPort } from "node:worker_threads";
import { ExpressionBoundError, evaluateBounded } from "./bounded.mjs";

const describe = (err) => {
  const at = typeof err?.position === "number" ? ` (at character ${err.position})` : "";
  return `${err?.message ?? String(err)}${at}`;
};

parentPort.on("message", async ({ id, expression, doc, limits }) => {
  let reply;
  try {
    reply = { id, ok: true, value: await evaluateBounded(expression, doc, limits, false) };
  } catch (err) {
    reply =
      err instanceof ExpressionBoundError
        ? { id, ok: false, bound: err.limit, message: err.message }
        : { id, ok: false, message: describe(err) };
  }
  try {
    parentPort.postMessage(reply);
  } catch (err) {
    parentPort.postMessage({ id, ok: false, message: `the result cannot be passed on: ${describe(err)}` });
  }
});

// Started: the main thread times each evaluation from when it is sent, not from this thread's start.
parentPort.postMessage({ ready: true });
