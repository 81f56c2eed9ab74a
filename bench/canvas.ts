/**
 * Canvas speed in the browser: the real server (server.ts, production build) on a fresh SQLite data directory
 * with plain-chain workflows of 100, 1,000 and 5,000 steps saved (no positions: the auto layout places them),
 * opened in Debian's Chromium. For each it prints
 *   - open: navigation start → every node inside the canvas pane rendered (measured by React Flow, not hidden),
 *     the viewport steady for two frames, and the main thread free again (a task posted then has run);
 *   - pan fps: frames per second while the pane is dragged at the opened (fitted) viewport;
 *   - drag fps: frames per second while a node is dragged, zoomed in until it is readable;
 * next to an empty canvas measured in the same run (ratios), and the same for the run page of a 1,000-step run.
 *
 *   npx next build --webpack && npm run bench -- canvas
 *   BENCH_CANVAS_SIZES=100,1000 BENCH_CANVAS_ROUNDS=3 BENCH_CANVAS_TIMEOUT_S=60 npm run bench -- canvas
 *   BENCH_CANVAS_PROFILE=/tmp/prof npm run bench -- canvas   # a Chrome CPU profile (.cpuprofile) of each first open
 */
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright";
import { linearChain } from "@/e2e/fixtures/large-workflows";
import { createDb, ensureLocalUser } from "@/lib/db/client";
import { claimOwner } from "@/lib/auth/users";
import { enableHook } from "@/lib/webhooks/hooks";
import { definitionToCanvas } from "@/lib/workflow/canvas";
import type { WorkflowDefinition } from "@/lib/workflow/schema";
import { saveWorkflowVersion } from "@/lib/workflows/repository";
import { freePort, startServer, stopServer } from "./throughput";

const root = path.resolve(import.meta.dirname, "..");
const VIEWPORT = { width: 1440, height: 900 };
/** A step node's box in flow units (w-52 and its two text lines); smaller than real so edge cases count as outside. */
const NODE_BOX = { width: 208, height: 48 };

const envList = (name: string, fallback: number[]) => (process.env[name] ? process.env[name]!.split(",").map(Number).filter((n) => n > 0) : fallback);
const envNumber = (name: string, fallback: number) => (Number(process.env[name]) > 0 ? Number(process.env[name]) : fallback);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Target {
  label: string;
  url: string;
  /** The element holding the React Flow canvas on that page. */
  container: string;
  /** Every node's position (flow units): which ones must be rendered depends on the viewport. */
  positions: Array<{ id: string; x: number; y: number }>;
  /** A node to drag (zoomed in), when the page allows dragging. */
  dragNode?: string;
}

interface Measure {
  openMs: number[];
  /** Navigation start → the page's last byte (server render and transfer), per round. */
  documentMs: number[];
  panFps?: number;
  dragFps?: number;
  worstFrameMs?: number;
  failure?: string;
}

/**
 * Runs in the page before its own scripts: counts animation frames, and records when the canvas is open
 * (`__canvasOpenAt`, ms since navigation start) and when a task posted right after ran (`__canvasReadyAt`).
 * Plain JavaScript text: functions handed to Playwright from tsx would carry esbuild's `__name` helper along.
 */
const PAGE_PROBE = `
(() => {
  const { container, positions, box } = __ARGS__;
  const w = window;
  w.__frames = 0;
  w.__worstFrame = 0;
  w.__lastFrame = 0;
  let previousTransform = null;
  let openCandidate = null;
  const isOpen = () => {
    const root = document.querySelector(container);
    const viewport = root && root.querySelector(".react-flow__viewport");
    const flow = root && root.querySelector(".react-flow");
    // Hydrated: React keeps its props on the DOM nodes it owns.
    if (!root || !viewport || !flow || !Object.keys(root).some((k) => k.startsWith("__reactProps"))) return null;
    const match = /translate\\(([-\\d.e]+)px, ([-\\d.e]+)px\\) scale\\(([-\\d.e]+)\\)/.exec(viewport.style.transform);
    if (!match) return null;
    const [tx, ty, zoom] = match.slice(1).map(Number);
    const pane = flow.getBoundingClientRect();
    const rendered = new Set();
    for (const el of root.querySelectorAll(".react-flow__node")) if (el.style.visibility !== "hidden") rendered.add(el.dataset.id);
    for (const p of positions) {
      const left = tx + p.x * zoom;
      const top = ty + p.y * zoom;
      const inside = left >= 0 && top >= 0 && left + box.width * zoom <= pane.width && top + box.height * zoom <= pane.height;
      if (inside && !rendered.has(p.id)) return null;
    }
    if (positions.length > 0 && rendered.size === 0) return null;
    return viewport.style.transform;
  };
  const tick = (now) => {
    w.__frames++;
    if (w.__lastFrame) w.__worstFrame = Math.max(w.__worstFrame, now - w.__lastFrame);
    w.__lastFrame = now;
    if (w.__canvasOpenAt === undefined) {
      const transform = isOpen();
      if (transform === null) openCandidate = null;
      else if (openCandidate !== null && transform === previousTransform) {
        w.__canvasOpenAt = openCandidate;
        setTimeout(() => (w.__canvasReadyAt = performance.now()), 0);
      } else openCandidate = performance.now();
      previousTransform = transform;
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
})();
`;

async function open(page: Page, target: Target, timeoutMs: number): Promise<number> {
  await page.goto(target.url, { waitUntil: "commit" });
  await page.waitForFunction(() => (window as unknown as { __canvasReadyAt?: number }).__canvasReadyAt !== undefined, undefined, { timeout: timeoutMs, polling: 100 });
  return page.evaluate(() => (window as unknown as { __canvasReadyAt: number }).__canvasReadyAt);
}

/** Frames per second while `move` runs 90 pointer moves with the button down, starting at `from`. */
async function framesWhile(page: Page, from: { x: number; y: number }, delta: (i: number) => { x: number; y: number }) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + 5, from.y + 5); // past the drag threshold
  const before = await page.evaluate(() => {
    const w = window as unknown as { __frames: number; __worstFrame: number };
    w.__worstFrame = 0;
    return { frames: w.__frames, at: performance.now() };
  });
  for (let i = 1; i <= 90; i++) {
    const d = delta(i);
    await page.mouse.move(from.x + d.x, from.y + d.y);
  }
  // Let the last move's frame be drawn before counting.
  const after = await page.evaluate(
    () =>
      new Promise<{ frames: number; at: number; worst: number }>((resolve) =>
        requestAnimationFrame(() => {
          const w = window as unknown as { __frames: number; __worstFrame: number };
          resolve({ frames: w.__frames, at: performance.now(), worst: w.__worstFrame });
        }),
      ),
  );
  await page.mouse.up();
  return { fps: ((after.frames - before.frames) * 1000) / (after.at - before.at), worst: after.worst };
}

/** One full circle in 90 moves: the pan ends where it started, the drag puts the node back. */
const circle = (radius: number) => (i: number) => ({ x: Math.round(radius * Math.sin((2 * Math.PI * i) / 90)), y: Math.round(radius * (1 - Math.cos((2 * Math.PI * i) / 90))) });

async function panFps(page: Page, target: Target) {
  const pane = (await page.locator(`${target.container} .react-flow`).boundingBox())!;
  // The top left corner: the fitted view leaves a margin there, so the drag starts on the pane, not on a node.
  const result = await framesWhile(page, { x: pane.x + 8, y: pane.y + 8 }, circle(80));
  return result;
}

async function dragFps(page: Page, target: Target) {
  const node = page.locator(`${target.container} .react-flow__node[data-id="${target.dragNode}"]`);
  // Zoom in (wheel over the node) until it is readable, then drag it around.
  for (let i = 0; i < 40; i++) {
    const box = (await node.boundingBox())!;
    if (box.width >= 150) break;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -400);
    await page.waitForTimeout(50);
  }
  const box = (await node.boundingBox())!;
  if (box.width < 150) throw new Error(`could not zoom in on ${target.dragNode} (width ${box.width})`);
  const moved = node.evaluate((el) => new Promise<boolean>((resolve) => {
    const observer = new MutationObserver(() => (observer.disconnect(), resolve(true)));
    observer.observe(el, { attributes: true, attributeFilter: ["style"] });
    setTimeout(() => resolve(false), 10_000);
  }));
  const result = await framesWhile(page, { x: box.x + box.width / 2, y: box.y + box.height / 2 }, circle(120));
  if (!(await moved)) throw new Error(`dragging ${target.dragNode} did not move it`);
  return result;
}

/** The pages need a signed-in user: the owner the bench set up, signed in once through the app's sign-in endpoint. */
let signedIn: Awaited<ReturnType<BrowserContext["storageState"]>> | undefined;

async function signIn(browser: Browser, base: string) {
  const context = await browser.newContext();
  try {
    const answer = await context.request.post(`${base}/api/auth/sign-in/email`, { data: { email: BENCH_OWNER.email, password: BENCH_OWNER.password }, headers: { origin: base } });
    if (!answer.ok()) throw new Error(`signing in failed: ${answer.status()} ${await answer.text()}`);
    signedIn = await context.storageState();
  } finally {
    await context.close();
  }
}

const BENCH_OWNER = { email: "bench@example.com", password: "bench-password-1" };

async function measure(browser: Browser, target: Target, rounds: number, timeoutMs: number): Promise<Measure> {
  const result: Measure = { openMs: [], documentMs: [] };
  for (let round = 0; round < rounds; round++) {
    const context = await browser.newContext({ viewport: VIEWPORT, storageState: signedIn });
    try {
      const page = await context.newPage();
      await page.addInitScript({ content: PAGE_PROBE.replace("__ARGS__", JSON.stringify({ container: target.container, positions: target.positions, box: NODE_BOX })) });
      const profiler = process.env.BENCH_CANVAS_PROFILE && round === 0 ? await context.newCDPSession(page) : undefined;
      if (profiler) {
        await profiler.send("Profiler.enable");
        await profiler.send("Profiler.start");
      }
      try {
        result.openMs.push(await open(page, target, timeoutMs));
        result.documentMs.push(await page.evaluate(() => (performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming).responseEnd));
        if (profiler) {
          const { profile } = await profiler.send("Profiler.stop");
          const file = path.join(process.env.BENCH_CANVAS_PROFILE!, `${target.label.replace(/[^a-z0-9]+/gi, "-")}.cpuprofile`);
          writeFileSync(file, JSON.stringify(profile));
          console.log(`CPU profile of opening: ${file}`);
        }
      } catch {
        result.failure = `did not open within ${timeoutMs / 1000} s`;
        return result;
      }
      if (round === rounds - 1) {
        const pan = await panFps(page, target);
        result.panFps = pan.fps;
        result.worstFrameMs = pan.worst;
        if (target.dragNode) {
          const drag = await dragFps(page, target);
          result.dragFps = drag.fps;
          result.worstFrameMs = Math.max(pan.worst, drag.worst);
        }
      }
    } finally {
      await context.close();
    }
  }
  return result;
}

function chainTarget(definition: WorkflowDefinition, label: string, url: string, container: string, dragNode?: string): Target {
  const { nodes } = definitionToCanvas(definition);
  return { label, url, container, dragNode, positions: nodes.map((n) => ({ id: n.id, x: n.position.x, y: n.position.y })) };
}

export async function benchCanvas() {
  if (!existsSync(path.join(root, ".next/BUILD_ID")))
    throw new Error("no production build: run `npx next build --webpack` (or `npm run build`) first, then `npm run bench -- canvas`");
  const sizes = envList("BENCH_CANVAS_SIZES", [100, 1000, 5000]);
  const rounds = envNumber("BENCH_CANVAS_ROUNDS", 3);
  const timeoutMs = envNumber("BENCH_CANVAS_TIMEOUT_S", 60) * 1000;
  const runSize = envNumber("BENCH_CANVAS_RUN_STEPS", 1000);
  const dataDir = mkdtempSync(path.join(tmpdir(), "orchestrator-canvas-"));
  let server: ChildProcess | undefined;
  let browser: Browser | undefined;
  try {
    // The workflows are stored before the server starts, as a user would have saved them.
    const savedDataDir = process.env.ORCHESTRATOR_DATA_DIR;
    process.env.ORCHESTRATOR_DATA_DIR = dataDir;
    const db = await createDb(`file:${path.join(dataDir, "orchestrator.db")}`);
    const ownerId = await ensureLocalUser(db);
    await claimOwner(db, BENCH_OWNER);
    const chains = sizes.map((n) => ({ ...linearChain(n), id: `canvas-chain-${n}` }));
    for (const chain of chains) await saveWorkflowVersion(db, ownerId, chain);
    const runChain = { ...linearChain(runSize), id: `canvas-run-${runSize}` };
    await saveWorkflowVersion(db, ownerId, runChain);
    const hook = await enableHook(db, ownerId, runChain.id, { waitTimeoutMs: 120_000 });
    await db.$disconnect();
    process.env.ORCHESTRATOR_DATA_DIR = savedDataDir;

    const port = await freePort();
    server = await startServer(dataDir, port);
    const base = `http://127.0.0.1:${port}`;
    const answer = await fetch(`${base}${hook.path}?wait=true`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ n: 1 }) });
    const run = (await answer.json()) as { runId?: string; status?: string };
    if (run.status !== "succeeded") throw new Error(`the ${runSize}-step run did not succeed: ${answer.status} ${JSON.stringify(run)}`);

    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    await signIn(browser, base);
    const empty: Target = { label: "empty canvas", url: `${base}/workflows/canvas-empty`, container: '[data-testid="canvas"]', positions: [] };
    const targets: Target[] = [
      empty,
      ...chains.map((chain) => chainTarget(chain, `editor, ${chain.steps.length} steps`, `${base}/workflows/${chain.id}`, '[data-testid="canvas"]', "s0")),
      chainTarget(runChain, `run page, ${runSize} steps`, `${base}/runs/${run.runId}`, '[data-testid="run-graph"]'),
    ];
    // Warm-up: the server's first render of each page and the browser's code cache.
    await measure(browser, empty, 1, timeoutMs);
    const results: Array<[Target, Measure]> = [];
    for (const target of targets) {
      const m = await measure(browser, target, target.positions.length > 2000 ? Math.min(rounds, 2) : rounds, timeoutMs);
      results.push([target, m]);
      printLine(target, m, results[0][1]);
    }
  } finally {
    await browser?.close();
    if (server) await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function printLine(target: Target, m: Measure, empty: Measure) {
  const fmt = (n: number | undefined, digits = 0) => (n === undefined ? "—" : n.toFixed(digits));
  const open = m.openMs.length ? median(m.openMs) : undefined;
  const emptyOpen = empty.openMs.length ? median(empty.openMs) : undefined;
  const ratio = open !== undefined && emptyOpen ? ` (${(open / emptyOpen).toFixed(2)}x empty)` : "";
  const parts = [
    `canvas ${target.label}: open ${m.failure ?? `median ${fmt(open)} ms${ratio} of ${m.openMs.map((x) => x.toFixed(0)).join("/")} (document ${fmt(m.documentMs.length ? median(m.documentMs) : undefined)} ms)`}`,
    `pan ${fmt(m.panFps)} fps`,
    ...(target.dragNode ? [`drag ${fmt(m.dragFps)} fps`] : []),
    `worst frame ${fmt(m.worstFrameMs)} ms`,
  ];
  console.log(parts.join(", ") + (target.positions.length ? " (goals: 1,000 steps open <= 1.5 s, drag >= 50 fps)" : ""));
}
