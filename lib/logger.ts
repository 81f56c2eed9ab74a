import pino from "pino";

/** Structured logs (JSON lines); LOG_LEVEL env, default info. */
export const logger = pino({ level: process.env.LOG_LEVEL ?? "info", base: undefined });
