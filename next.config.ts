import type { NextConfig } from "next";

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
    "socket.io",
  ],
  poweredByHeader: false,
};

export default nextConfig;
