#!/usr/bin/env node
// Entry of `npx orchestrator`: loads the TypeScript CLI through tsx (a runtime dependency).
import { register } from "tsx/esm/api";
process.env.NEXT_TELEMETRY_DISABLED ??= "1";
register({ tsconfig: new URL("../tsconfig.json", import.meta.url).pathname });
await import("../cli/main.ts");
