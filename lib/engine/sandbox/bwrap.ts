import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { dataDir } from "@/lib/config";
import { databaseUrl, isPostgresUrl, sqlitePath } from "@/lib/db/url";

/**
 * Confinement of agent processes (the `kilo` step) with bubblewrap: the agent runs tools unattended, so it sees
 * the machine read-only, writes only its workspace and its own home, and does not see the app's files at all —
 * not the data directory (secret key, SQLite database), not the app directory, not the user's home.
 *
 * Env ORCHESTRATOR_KILO_SANDBOX: `bwrap` (default) or `off` (run unconfined, for hosts without user namespaces).
 */
export type SandboxMode = "bwrap" | "off";

export function sandboxMode(): SandboxMode {
  return process.env.ORCHESTRATOR_KILO_SANDBOX === "off" ? "off" : "bwrap";
}

/** The bubblewrap binary: the one shipped next to the agent binary (Kilo ships its own), else `bwrap` on PATH. */
export function bwrapBinary(agentBinary: string): string {
  const shipped = path.join(path.dirname(agentBinary), "bwrap");
  return existsSync(shipped) ? shipped : "bwrap";
}

const probes = new Map<string, string | null>();

/** Whether bubblewrap can create its namespaces here: null when it can, else why not (probed once per binary). */
export function bwrapProblem(bwrap: string): string | null {
  if (!probes.has(bwrap)) {
    const probe = spawnSync(bwrap, ["--ro-bind", "/", "/", "--unshare-pid", "--die-with-parent", "true"], { encoding: "utf8", timeout: 10_000 });
    probes.set(bwrap, probe.status === 0 ? null : (probe.error?.message ?? probe.stderr.trim()) || `exit code ${probe.status}`);
  }
  return probes.get(bwrap)!;
}

/** Directories the agent must not see: the data directory, the database file's directory, the app, the home. */
export function hiddenPaths(): string[] {
  const url = databaseUrl();
  const paths = [dataDir(), process.cwd(), os.homedir(), isPostgresUrl(url) ? undefined : path.dirname(sqlitePath(url))];
  return [...new Set(paths.filter((p): p is string => !!p && path.resolve(p) !== "/").map((p) => path.resolve(p)))];
}

/**
 * bwrap arguments that run `command` with: `/` read-only, a private /tmp, /dev and /proc of its own, its own PID
 * namespace (killing bwrap kills everything inside), `hide` covered by empty tmpfs, `readOnly` (the agent's own
 * binaries, which may sit inside a hidden directory) bound back read-only, and `writable` bound read-write.
 * The network is shared: the agent must reach the LLM gateway, which may be on loopback.
 */
export function bwrapArgs(opts: { hide: string[]; readOnly: string[]; writable: string[]; cwd: string; command: string[] }): string[] {
  const args = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"];
  // Parents before children, so a deeper mount is not covered by a later tmpfs.
  for (const dir of [...opts.hide].sort((a, b) => a.length - b.length)) args.push("--tmpfs", dir);
  for (const dir of opts.readOnly) args.push("--ro-bind", dir, dir);
  for (const dir of opts.writable) args.push("--bind", dir, dir);
  args.push("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session", "--chdir", opts.cwd, "--", ...opts.command);
  return args;
}
