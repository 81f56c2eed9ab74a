import { describe, expect, it } from "vitest";
import { cronProblem, describeTiming, dueFireTime, firesBetween, latestFireAtOrBefore, nextFireAfter, nextFires, timezoneProblem, type ScheduleTiming } from "./timing";

const iso = (dates: Date[]) => dates.map((d) => d.toISOString());
const berlin = (cron: string): ScheduleTiming => ({ kind: "cron", cron, timezone: "Europe/Berlin" });

describe("cron fire times in a time zone", () => {
  it("a daily 09:00 in Berlin is 08:00 UTC in winter and 07:00 UTC in summer", () => {
    expect(iso(nextFires(berlin("0 9 * * *"), new Date("2026-03-27T12:00:00Z"), 4))).toEqual([
      "2026-03-28T08:00:00.000Z",
      "2026-03-29T07:00:00.000Z", // the day clocks go forward
      "2026-03-30T07:00:00.000Z",
      "2026-03-31T07:00:00.000Z",
    ]);
  });

  it("spring forward: 02:30 does not exist on 29 March in Berlin, the fire moves to 03:30 CEST (once)", () => {
    expect(iso(nextFires(berlin("30 2 * * *"), new Date("2026-03-28T00:00:00Z"), 3))).toEqual([
      "2026-03-28T01:30:00.000Z", // 02:30 CET
      "2026-03-29T01:30:00.000Z", // 03:30 CEST
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
    ]);
  });

  it("fall back: 02:30 happens twice on 25 October in Berlin and fires once, at the first", () => {
    expect(iso(nextFires(berlin("30 2 * * *"), new Date("2026-10-24T00:00:00Z"), 3))).toEqual([
      "2026-10-24T00:30:00.000Z",
      "2026-10-25T00:30:00.000Z", // 02:30 CEST, the first of the two
      "2026-10-26T01:30:00.000Z", // 02:30 CET
    ]);
  });

  it("hourly across the fall-back night fires every real hour, none lost or doubled", () => {
    const fires = nextFires(berlin("0 * * * *"), new Date("2026-10-24T23:30:00Z"), 5);
    expect(iso(fires)).toEqual(["2026-10-25T00:00:00.000Z", "2026-10-25T01:00:00.000Z", "2026-10-25T02:00:00.000Z", "2026-10-25T03:00:00.000Z", "2026-10-25T04:00:00.000Z"]);
  });

  it("the latest fire at or before a time counts the time itself", () => {
    expect(latestFireAtOrBefore(berlin("0 9 * * *"), new Date("2026-06-01T07:00:00Z"))?.toISOString()).toBe("2026-06-01T07:00:00.000Z");
    expect(latestFireAtOrBefore(berlin("0 9 * * *"), new Date("2026-06-01T06:59:59Z"))?.toISOString()).toBe("2026-05-31T07:00:00.000Z");
    expect(nextFireAfter(berlin("0 9 * * *"), new Date("2026-06-01T07:00:00Z"))?.toISOString()).toBe("2026-06-02T07:00:00.000Z");
  });
});

describe("every N minutes", () => {
  const every = (everyMinutes: number, minuteMs?: number): ScheduleTiming => ({ kind: "interval", everyMinutes, minuteMs });

  it("fires on a grid counted from 1970-01-01T00:00Z, whatever the time asked from", () => {
    expect(iso(nextFires(every(15), new Date("2026-01-01T10:07:13Z"), 3))).toEqual(["2026-01-01T10:15:00.000Z", "2026-01-01T10:30:00.000Z", "2026-01-01T10:45:00.000Z"]);
    expect(nextFireAfter(every(15), new Date("2026-01-01T10:15:00Z"))?.toISOString()).toBe("2026-01-01T10:30:00.000Z");
    expect(latestFireAtOrBefore(every(15), new Date("2026-01-01T10:15:00Z"))?.toISOString()).toBe("2026-01-01T10:15:00.000Z");
  });

  it("is unaffected by daylight saving (UTC grid): every 60 minutes stays 60 real minutes apart", () => {
    const fires = nextFires(every(60), new Date("2026-10-24T23:30:00Z"), 4).map((d) => d.getTime());
    expect(fires.slice(1).map((t, i) => t - fires[i])).toEqual([3_600_000, 3_600_000, 3_600_000]);
  });

  it("a shorter minute (tests only) scales the interval", () => {
    expect(iso(nextFires(every(2, 1000), new Date("2026-01-01T00:00:00.500Z"), 2))).toEqual(["2026-01-01T00:00:02.000Z", "2026-01-01T00:00:04.000Z"]);
  });
});

describe("what is owed, and missed fires", () => {
  it("owes the latest fire time after the last handled one, collapsing the missed ones", () => {
    const t = berlin("*/10 * * * *");
    const handled = new Date("2026-06-01T10:00:00Z");
    expect(dueFireTime(t, handled, new Date("2026-06-01T10:05:00Z"))).toBeNull();
    expect(dueFireTime(t, handled, new Date("2026-06-01T10:10:00Z"))?.toISOString()).toBe("2026-06-01T10:10:00.000Z");
    // Down from 10:00 to 11:03: six fire times passed; one is owed, the latest, and five stood in for.
    const owed = dueFireTime(t, handled, new Date("2026-06-01T11:03:00Z"))!;
    expect(owed.toISOString()).toBe("2026-06-01T11:00:00.000Z");
    expect(firesBetween(t, handled, owed)).toBe(5);
    expect(firesBetween({ kind: "interval", everyMinutes: 10 }, handled, owed)).toBe(5);
  });
});

describe("validation", () => {
  it("accepts five-field expressions and macros", () => {
    for (const ok of ["0 9 * * 1-5", "*/5 * * * *", "15 3 1 * *", "@daily", "@hourly"]) expect(cronProblem(ok, "Europe/Berlin"), ok).toBeUndefined();
  });

  it("refuses the rest, naming the field", () => {
    expect(cronProblem("* * *")).toMatch(/^cron: .*five fields/);
    expect(cronProblem("0 0 * * * *")).toMatch(/^cron: .*five fields/); // a seconds field
    expect(cronProblem("61 * * * *")).toMatch(/^cron: "61 \* \* \* \*" is not a valid expression/);
    expect(cronProblem("0 0 31 2 *")).toMatch(/^cron: /);
    expect(cronProblem("")).toMatch(/^cron: give five fields/);
    expect(cronProblem("0 ".repeat(100))).toMatch(/^cron: at most 120/);
    expect(timezoneProblem("Europe/Berlin")).toBeUndefined();
    expect(timezoneProblem("UTC")).toBeUndefined();
    expect(timezoneProblem("Mars/Olympus")).toMatch(/^timezone: "Mars\/Olympus" is not a time zone/);
    expect(timezoneProblem("x".repeat(65))).toMatch(/^timezone: at most 64/);
  });

  it("describes common shapes in words", () => {
    expect(describeTiming(berlin("0 9 * * 1-5"))).toBe("Every weekday at 09:00 (Europe/Berlin)");
    expect(describeTiming(berlin("30 7 * * *"))).toBe("Every day at 07:30 (Europe/Berlin)");
    expect(describeTiming(berlin("0 18 * * 5"))).toBe("Every Friday at 18:00 (Europe/Berlin)");
    expect(describeTiming(berlin("5 4 1,15 * *"))).toBe('Cron "5 4 1,15 * *" (Europe/Berlin)');
    expect(describeTiming({ kind: "interval", everyMinutes: 90 })).toBe("Every 90 minutes");
    expect(describeTiming({ kind: "interval", everyMinutes: 120 })).toBe("Every 2 hours");
    expect(describeTiming({ kind: "interval", everyMinutes: 1 })).toBe("Every minute");
  });
});
