import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { dataDir } from "@/lib/config";
import { StepError } from "../errors";
import { bwrapArgs, bwrapBinary, bwrapProblem, hiddenPaths, sandboxMode } from "../sandbox/bwrap";
import { stepModel } from "./config-values";
import type { StepExecutor } from "./types";

export interface KiloOutput {
  text: string;
  filesChanged: string[];
  exitCode: number | null;
}

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const PROVIDER = "gateway";

/** The Kilo Code CLI binary: env KILO_BIN, else the one @kilocode/cli-linux-x64 ships. */
export function kiloBinary(): string | undefined {
  if (process.env.KILO_BIN) return existsSync(process.env.KILO_BIN) ? process.env.KILO_BIN : undefined;
  try {
    const pkg = createRequire(import.meta.url).resolve("@kilocode/cli-linux-x64/package.json");
    const bin = path.join(path.dirname(pkg), "bin", "kilo");
    return existsSync(bin) ? bin : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs the Kilo Code CLI (`kilo run "<prompt>" --format json --auto`) in the run's workspace directory, talking
 * to the same OpenAI-compatible gateway as the llm step. Its JSON events stream into the step log and the text
 * into the live view; the output lists the files it created or changed. The time limit and cancelling the run
 * kill its whole process group.
 */
export const kiloExecutor: StepExecutor = async (config, ctx): Promise<KiloOutput> => {
  const bin = kiloBinary();
  if (!bin)
    throw new StepError("KILO_NOT_INSTALLED", "the Kilo Code CLI is not installed: run `npm install @kilocode/cli-linux-x64` in the app (or set KILO_BIN to its path)", { stepId: ctx.stepId });
  const baseURL = ctx.settings.llmGatewayUrl;
  if (!baseURL)
    throw new StepError("LLM_NOT_CONFIGURED", "No LLM gateway configured for Kilo: set LLM_GATEWAY_URL and LLM_API_KEY, or set the gateway on the Settings page.", { stepId: ctx.stepId });
  const model = stepModel(config, ctx.settings, ctx.stepId);
  const timeoutMs = Number(config.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const workspace = path.join(dataDir(), "workspaces", ctx.runId);
  const home = path.join(dataDir(), "kilo-home");
  await mkdir(workspace, { recursive: true });
  await mkdir(home, { recursive: true });
  const before = await snapshot(workspace);

  const kiloConfig = {
    autoupdate: false,
    provider: { [PROVIDER]: { npm: "@ai-sdk/openai-compatible", options: { baseURL, apiKey: ctx.settings.llmApiKey || "not-needed" }, models: { [model]: { name: model } } } },
  };
  // `--` ends the options: a prompt starting with "-" is still the prompt.
  let command = [bin, "run", "--format", "json", "--auto", "-m", `${PROVIDER}/${model}`, "--dir", workspace, "--", String(config.prompt)];
  if (sandboxMode() === "bwrap") {
    const bwrap = bwrapBinary(bin);
    const problem = bwrapProblem(bwrap);
    if (problem)
      throw new StepError(
        "KILO_SANDBOX_UNAVAILABLE",
        `step "${ctx.stepId}": Kilo runs confined by bubblewrap, which cannot start on this host (${problem}). Allow unprivileged user namespaces, or set ORCHESTRATOR_KILO_SANDBOX=off to run it unconfined.`,
        { stepId: ctx.stepId },
      );
    command = [bwrap, ...bwrapArgs({ hide: hiddenPaths(), readOnly: [path.dirname(bin)], writable: [home, workspace], cwd: workspace, command })];
  }
  const child = spawn(command[0], command.slice(1), {
    cwd: workspace,
    // Its own process group, so the time limit and cancel can kill everything it started.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { NODE_ENV: "production", PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, KILO_CONFIG_CONTENT: JSON.stringify(kiloConfig), NO_COLOR: "1" },
  });
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup();
  }, timeoutMs);
  const onAbort = () => killGroup();
  ctx.signal.addEventListener("abort", onAbort, { once: true });

  let text = "";
  let buffer = "";
  let stderr = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffer += chunk;
    for (let newline = buffer.indexOf("\n"); newline >= 0; newline = buffer.indexOf("\n")) {
      const line = buffer.slice(0, newline).trim();
      buffer = buffer.slice(newline + 1);
      if (line) text += handleEvent(line, ctx, model);
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    if (stderr.length < 8192) stderr += chunk;
  });
  const exitCode = await new Promise<number | null>((resolve) => {
    child.on("close", (code) => resolve(code));
    child.on("error", (err) => {
      stderr += err.message;
      resolve(null);
    });
  });
  clearTimeout(timer);
  ctx.signal.removeEventListener("abort", onAbort);
  if (buffer.trim()) text += handleEvent(buffer.trim(), ctx, model);

  if (ctx.signal.aborted) throw ctx.signal.reason ?? new Error("cancelled");
  if (timedOut) throw new StepError("KILO_TIMEOUT", `step "${ctx.stepId}": Kilo did not finish within ${timeoutMs} ms and was stopped`, { stepId: ctx.stepId });
  const filesChanged = changedFiles(before, await snapshot(workspace));
  if (exitCode !== 0)
    throw new StepError("KILO_FAILED", `step "${ctx.stepId}": Kilo exited with code ${exitCode}${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-3).join(" ")}` : ""}`, { stepId: ctx.stepId });
  return { text: text.trim(), filesChanged, exitCode };
};

/** One JSON event of `kilo run --format json`: text goes to the live view, everything to the step log. */
function handleEvent(line: string, ctx: Parameters<StepExecutor>[1], model: string): string {
  let event: { type?: string; part?: { text?: string; tokens?: { input?: number; output?: number }; tool?: string; state?: { status?: string } } };
  try {
    event = JSON.parse(line);
  } catch {
    ctx.log("info", line.slice(0, 2000));
    return "";
  }
  if (event.type === "text" && event.part?.text) {
    ctx.emitToken(event.part.text);
    ctx.log("info", event.part.text.slice(0, 2000));
    return event.part.text;
  }
  if (event.type === "step_finish" && event.part?.tokens)
    ctx.reportUsage({ model, promptTokens: event.part.tokens.input ?? 0, completionTokens: event.part.tokens.output ?? 0 });
  ctx.log("debug", `${event.type ?? "event"}${event.part?.tool ? ` ${event.part.tool}` : ""}${event.part?.state?.status ? ` ${event.part.state.status}` : ""}`);
  return "";
}

type Snapshot = Map<string, string>;

/** Files under a directory with size and modification time (skipping .git and node_modules). */
export async function snapshot(root: string): Promise<Snapshot> {
  const files: Snapshot = new Map();
  const walk = async (dir: string) => {
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.name === ".git" || entry.name === "node_modules") continue;
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) {
        const info = await stat(full);
        files.set(path.relative(root, full), `${info.size}:${info.mtimeMs}`);
      }
    }
  };
  await walk(root);
  return files;
}

/** Files created, changed or deleted between two snapshots, sorted. */
export function changedFiles(before: Snapshot, after: Snapshot): string[] {
  const changed = new Set<string>();
  for (const [file, signature] of after) if (before.get(file) !== signature) changed.add(file);
  for (const file of before.keys()) if (!after.has(file)) changed.add(file);
  return [...changed].sort();
}
