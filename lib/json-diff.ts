/**
 * A small structural diff of two JSON values (run inputs, step outputs) for the compare page: the paths where
 * they differ, in document order. Iterative (no recursion limit of its own) and bounded: at most `max` differences,
 * then `truncated`.
 */
export interface JsonDifference {
  /** `$`, `$.a.b`, `$.items[2]` */
  path: string;
  kind: "changed" | "added" | "removed";
  a?: unknown;
  b?: unknown;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const key = (path: string, k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `${path}.${k}` : `${path}[${JSON.stringify(k)}]`);

export function diffJson(a: unknown, b: unknown, max = 200): { differences: JsonDifference[]; truncated: boolean } {
  const differences: JsonDifference[] = [];
  const stack: Array<{ path: string; a: unknown; b: unknown }> = [{ path: "$", a, b }];
  while (stack.length) {
    const item = stack.pop()!;
    if (differences.length >= max) return { differences, truncated: true };
    if (Object.is(item.a, item.b)) continue;
    const children: Array<{ path: string; a: unknown; b: unknown }> = [];
    if (Array.isArray(item.a) && Array.isArray(item.b)) {
      for (let i = 0; i < Math.max(item.a.length, item.b.length); i++) children.push({ path: `${item.path}[${i}]`, a: item.a[i], b: item.b[i] });
    } else if (isObject(item.a) && isObject(item.b)) {
      const keys = [...new Set([...Object.keys(item.a), ...Object.keys(item.b)])];
      for (const k of keys) children.push({ path: key(item.path, k), a: Object.hasOwn(item.a, k) ? item.a[k] : undefined, b: Object.hasOwn(item.b, k) ? item.b[k] : undefined });
    } else {
      if (item.a === undefined) differences.push({ path: item.path, kind: "added", b: item.b });
      else if (item.b === undefined) differences.push({ path: item.path, kind: "removed", a: item.a });
      else differences.push({ path: item.path, kind: "changed", a: item.a, b: item.b });
      continue;
    }
    // Reversed onto the stack, so differences come out in document order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]);
  }
  return { differences, truncated: false };
}
