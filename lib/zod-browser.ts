import { z } from "zod";

/**
 * In the browser zod must not try `new Function` (its JIT for object schemas, probed on the first parse): the
 * pages' Content-Security-Policy forbids eval, so the probe fails anyway and each try is reported as a violation.
 * Imported first by the modules that parse with zod in the browser; the server keeps the JIT.
 */
if (typeof window !== "undefined") z.config({ jitless: true });
