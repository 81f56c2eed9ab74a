/** Runs `fn` once the browser is idle, within `timeoutMs` at the latest; returns a cancel. Browser only. */
export function whenIdle(fn: () => void, timeoutMs = 1000): () => void {
  if (typeof window.requestIdleCallback !== "function") {
    const timer = window.setTimeout(fn, Math.min(200, timeoutMs));
    return () => window.clearTimeout(timer);
  }
  const handle = window.requestIdleCallback(fn, { timeout: timeoutMs });
  return () => window.cancelIdleCallback(handle);
}
