import type { NextConfig } from "next";
import { STATIC_SECURITY_HEADERS } from "./lib/net/security-headers";

const nextConfig: NextConfig = {
  // Server-side libraries stay plain Node modules (native addons, WASM, large graphs of their own).
  serverExternalPackages: [
    "better-sqlite3",
    "@prisma/client",
    "@prisma/adapter-better-sqlite3",
    "@prisma/adapter-pg",
    "pg",
    "@langchain/core",
    "@langchain/langgraph",
    "@langchain/openai",
    "jsonata",
    "pino",
    "prom-client",
    "@opentelemetry/api",
    "@opentelemetry/sdk-trace",
    "@opentelemetry/exporter-trace-otlp-http",
    "@opentelemetry/resources",
    "socket.io",
    "bullmq",
    "ioredis",
  ],
  poweredByHeader: false,
  // nosniff, Referrer-Policy, X-Frame-Options, Permissions-Policy on every answer; the CSP is per request (proxy.ts).
  async headers() {
    return [{ source: "/:path*", headers: STATIC_SECURITY_HEADERS }];
  },
  experimental: {
    // Saving a workflow posts its whole definition: allow the definition limit (MAX_DEFINITION_BYTES, 16 MB) with
    // room for the action encoding, so a large definition gets our error naming the limit, not a bare 413.
    serverActions: { bodySizeLimit: "20mb" },
  },
};

export default nextConfig;
