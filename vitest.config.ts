import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname) } },
  test: {
    environment: "node",
    // The official checkpointer contract suite uses jest-style globals.
    globals: true,
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", "e2e/**/*.spec.ts", ".next/**", "lib/db/generated/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests share the local Postgres; files run in parallel, each in its own schema.
    env: { LOG_LEVEL: "silent", NEXT_TELEMETRY_DISABLED: "1" },
  },
});
