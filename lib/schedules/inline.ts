import { logger } from "@/lib/logger";
import { fireDue, type FireDeps, type FireOutcome } from "./fire";

/**
 * One-process mode's scheduler: every `pollMs` it reads the enabled schedules whose stored next fire time has come
 * (an index on enabled, nextFireAt) and fires each through `fireDue` — the path queue mode's workers take too.
 * Restarts need nothing special: a schedule whose fire times passed while the process was down is due at the first
 * tick, and `fireDue` applies its missed-fire policy. Edits from other processes (the CLI) are seen at the next tick,
 * since the database is read each time. The clock is injectable for tests.
 */
export class InlineScheduler {
  private timer?: NodeJS.Timeout;
  private ticking?: Promise<FireOutcome[]>;

  constructor(
    private readonly deps: FireDeps,
    private readonly options: { pollMs: number; now?: () => Date },
  ) {}

  start() {
    void this.tick();
    this.timer = setInterval(() => void this.tick(), this.options.pollMs);
    this.timer.unref();
    return this;
  }

  async stop() {
    clearInterval(this.timer);
    await this.ticking;
  }

  /** Fires what is due now; one tick at a time (a slow tick is not overlapped by the next). */
  tick(): Promise<FireOutcome[]> {
    this.ticking ??= this.fireAllDue().finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async fireAllDue(): Promise<FireOutcome[]> {
    const now = this.options.now?.() ?? new Date();
    const outcomes: FireOutcome[] = [];
    try {
      const due = await this.deps.db.schedule.findMany({
        where: { enabled: true, nextFireAt: { lte: now } },
        select: { id: true },
        orderBy: { nextFireAt: "asc" },
        take: 500,
      });
      for (const { id } of due) {
        try {
          outcomes.push(await fireDue(this.deps, id, now, now));
        } catch (err) {
          logger.error({ err, scheduleId: id }, "firing a schedule failed (tried again at the next tick)");
        }
      }
    } catch (err) {
      logger.error({ err }, "reading due schedules failed (tried again at the next tick)");
    }
    return outcomes;
  }
}
