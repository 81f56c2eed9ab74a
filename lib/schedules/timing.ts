import { CronExpressionParser } from "cron-parser";

/**
 * When a schedule fires (pure: no I/O, no clock). Cron expressions are read by cron-parser — the library BullMQ's
 * job schedulers use — so the fire times the editor lists are the ones queue mode delivers. Interval schedules
 * fire on a grid counted from 1970-01-01T00:00Z (every 15 minutes: :00, :15, :30, :45 UTC), which is also how
 * BullMQ's `every` aligns once given its first fire time, so every process computes the same fire times.
 */

export type ScheduleTiming =
  | { kind: "cron"; cron: string; timezone: string }
  | { kind: "interval"; everyMinutes: number; /** Length of a "minute" (60,000 ms; shorter only in tests). */ minuteMs?: number };

export const MINUTE_MS = 60_000;
export const MAX_CRON_LENGTH = 120;
export const MAX_TIMEZONE_LENGTH = 64;
export const MAX_EVERY_MINUTES = 525_600; // a year
const CRON_MACROS = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]);

/** The problem with a time zone name, or undefined when Intl knows it (IANA names such as Europe/Berlin, or UTC). */
export function timezoneProblem(timezone: string): string | undefined {
  if (!timezone.trim()) return "timezone: give an IANA time zone such as Europe/Berlin or UTC";
  if (timezone.length > MAX_TIMEZONE_LENGTH) return `timezone: at most ${MAX_TIMEZONE_LENGTH} characters`;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    return undefined;
  } catch {
    return `timezone: "${timezone}" is not a time zone this server knows; use an IANA name such as Europe/Berlin, America/New_York or UTC`;
  }
}

/**
 * The problem with a cron expression, or undefined. Five fields (minute hour day-of-month month day-of-week) or a
 * macro such as @daily: a seconds field is refused, so a schedule fires at most once a minute.
 */
export function cronProblem(cron: string, timezone = "UTC"): string | undefined {
  const text = cron.trim();
  if (!text) return "cron: give five fields, minute hour day-of-month month day-of-week (e.g. 0 9 * * 1-5)";
  if (text.length > MAX_CRON_LENGTH) return `cron: at most ${MAX_CRON_LENGTH} characters`;
  const fields = text.split(/\s+/);
  if (text.startsWith("@") ? !CRON_MACROS.has(text) : fields.length !== 5)
    return `cron: "${text}" must have five fields, minute hour day-of-month month day-of-week (e.g. 0 9 * * 1-5), or be one of ${[...CRON_MACROS].join(", ")}`;
  try {
    const parsed = CronExpressionParser.parse(text, { tz: timezone, currentDate: new Date(0) });
    parsed.next(); // an expression that never matches throws here
    return undefined;
  } catch (err) {
    return `cron: "${text}" is not a valid expression (${err instanceof Error ? err.message : String(err)})`;
  }
}

function intervalMs(timing: Extract<ScheduleTiming, { kind: "interval" }>): number {
  return timing.everyMinutes * (timing.minuteMs ?? MINUTE_MS);
}

function cronFrom(timing: Extract<ScheduleTiming, { kind: "cron" }>, currentDate: Date) {
  return CronExpressionParser.parse(timing.cron.trim(), { tz: timing.timezone, currentDate });
}

/** The first fire time strictly after `after`, or null when there is none (a cron date that never comes again). */
export function nextFireAfter(timing: ScheduleTiming, after: Date): Date | null {
  if (timing.kind === "interval") {
    const every = intervalMs(timing);
    return new Date(Math.floor(after.getTime() / every) * every + every);
  }
  try {
    return cronFrom(timing, after).next().toDate();
  } catch {
    return null;
  }
}

/** The latest fire time at or before `at`, or null. */
export function latestFireAtOrBefore(timing: ScheduleTiming, at: Date): Date | null {
  if (timing.kind === "interval") {
    const every = intervalMs(timing);
    return new Date(Math.floor(at.getTime() / every) * every);
  }
  try {
    // prev() is strictly before its start: one millisecond later makes `at` itself count.
    return cronFrom(timing, new Date(at.getTime() + 1)).prev().toDate();
  } catch {
    return null;
  }
}

/** The next `count` fire times after `after`. */
export function nextFires(timing: ScheduleTiming, after: Date, count: number): Date[] {
  const fires: Date[] = [];
  let from = after;
  while (fires.length < count) {
    const next = nextFireAfter(timing, from);
    if (!next) break;
    fires.push(next);
    from = next;
  }
  return fires;
}

/** How many fire times lie strictly between `after` and `before` (counted up to `cap`). */
export function firesBetween(timing: ScheduleTiming, after: Date, before: Date, cap = 10_000): number {
  if (before <= after) return 0;
  if (timing.kind === "interval") {
    const every = intervalMs(timing);
    const first = Math.floor(after.getTime() / every) + 1;
    const last = Math.ceil(before.getTime() / every) - 1;
    return Math.min(cap, Math.max(0, last - first + 1));
  }
  let n = 0;
  let from = after;
  while (n < cap) {
    const next = nextFireAfter(timing, from);
    if (!next || next >= before) break;
    n++;
    from = next;
  }
  return n;
}

/**
 * The fire time a schedule owes at `at`: the latest fire time at or before it, when that is after `handledUntil`
 * (its last handled fire, or when it became active). Fire times missed in between collapse into this one: a
 * schedule never owes more than one run (see the missed-fire policy in fire.ts).
 */
export function dueFireTime(timing: ScheduleTiming, handledUntil: Date, at: Date): Date | null {
  const latest = latestFireAtOrBefore(timing, at);
  return latest && latest > handledUntil ? latest : null;
}

const WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const pad = (n: number) => String(n).padStart(2, "0");

function minutesText(n: number): string {
  if (n === 1) return "Every minute";
  if (n % 1440 === 0) return n === 1440 ? "Every day (24 hours)" : `Every ${n / 1440} days`;
  if (n % 60 === 0) return n === 60 ? "Every hour" : `Every ${n / 60} hours`;
  return `Every ${n} minutes`;
}

/** A sentence for people ("Every weekday at 09:00 (Europe/Berlin)"); the expression itself when it is not a common shape. */
export function describeTiming(timing: ScheduleTiming): string {
  if (timing.kind === "interval") return minutesText(timing.everyMinutes);
  const text = timing.cron.trim();
  const zone = ` (${timing.timezone})`;
  const macros: Record<string, string> = {
    "@hourly": "Every hour, on the hour",
    "@daily": "Every day at 00:00",
    "@midnight": "Every day at 00:00",
    "@weekly": "Every Sunday at 00:00",
    "@monthly": "On the 1st of every month at 00:00",
    "@yearly": "Every 1 January at 00:00",
    "@annually": "Every 1 January at 00:00",
  };
  if (macros[text]) return macros[text] + zone;
  const [minute, hour, dom, month, dow] = text.split(/\s+/);
  const num = (v: string | undefined) => (v !== undefined && /^\d{1,2}$/.test(v) ? Number(v) : undefined);
  const m = num(minute);
  const h = num(hour);
  const step = /^\*\/(\d+)$/.exec(minute ?? "");
  if (step && hour === "*" && dom === "*" && month === "*" && dow === "*") return `${minutesText(Number(step[1]))}${Number(step[1]) < 60 ? " (minutes divisible by it)" : ""}${zone}`;
  if (m !== undefined && hour === "*" && dom === "*" && month === "*" && dow === "*") return `Every hour at minute ${m}${zone}`;
  if (m !== undefined && h !== undefined && month === "*") {
    const at = `at ${pad(h)}:${pad(m)}`;
    if (dom === "*" && dow === "*") return `Every day ${at}${zone}`;
    if (dom === "*" && dow === "1-5") return `Every weekday ${at}${zone}`;
    if (dom === "*" && /^[0-7](,[0-7])*$/.test(dow ?? "")) return `Every ${dow!.split(",").map((d) => WEEKDAYS[Number(d) % 7]).join(", ")} ${at}${zone}`;
    if (num(dom) !== undefined && dow === "*") return `On day ${dom} of every month ${at}${zone}`;
  }
  return `Cron "${text}"${zone}`;
}
