// The live view's whole chain on this machine, for the browser suite and bench/live: a real
// redis-server, devstack's synthetic capture (the binary built by `cargo build`), backend-api
// (its real server), the frontend's Vite dev server, a test publisher of pose results standing
// in for the GPU model (tests and benchmarks only), and Debian's chromium driven by
// playwright-core. Every process started here is stopped by `stop()`.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { chromium, type BrowserContext, type Page } from "playwright-core";

import { PosePublisher } from "./pose-publisher";

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(here, "../../..");
const FRONTEND = path.resolve(here, "..");
const BACKEND = path.resolve(REPO, "services/backend-api");

export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
export const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--force-color-profile=srgb", // screenshots keep the colours drawn
];

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = new Socket();
    sock.once("connect", () => (sock.destroy(), resolve(true)));
    sock.once("error", () => resolve(false));
    sock.connect(port, "127.0.0.1");
  });
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A child process with its output kept for error messages. */
/** Children still running when this process exits (a killed test run) are killed with it. */
const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

class Proc {
  readonly child: ChildProcess;
  output = "";

  constructor(
    readonly name: string,
    cmd: string,
    args: string[],
    opts: { cwd?: string; env?: Record<string, string> } = {},
  ) {
    this.child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    running.add(this.child);
    this.child.once("exit", () => running.delete(this.child));
    const keep = (d: Buffer) => (this.output = (this.output + d.toString()).slice(-8000));
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
  }

  get pid(): number {
    return this.child.pid!;
  }

  alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    if (!this.alive()) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }

  async rssKiB(): Promise<number> {
    const status = await readFile(`/proc/${this.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
  }

  /** User + system CPU seconds so far (from /proc, clock ticks at 100 Hz). */
  async cpuSeconds(): Promise<number> {
    const stat = (await readFile(`/proc/${this.pid}/stat`, "utf8")).split(") ")[1].split(" ");
    return (Number(stat[11]) + Number(stat[12])) / 100;
  }
}

export interface StackOptions {
  /** Pose results for every frame (default) or none. */
  poses?: boolean;
}

export class LiveStack {
  redisUrl = "";
  backendPort = 0;
  frontendPort = 0;
  readonly streams = { frames: `e2e:frames:${process.pid}`, results: `e2e:results:${process.pid}` };
  redis?: Proc;
  capture?: Proc;
  backend?: Proc;
  vite?: Proc;
  poses?: PosePublisher;
  browser?: BrowserContext;
  private profile = "";

  get frontend(): string {
    return `http://127.0.0.1:${this.frontendPort}`;
  }

  get api(): string {
    return `http://127.0.0.1:${this.backendPort}`;
  }

  async start(opts: StackOptions = {}): Promise<void> {
    await this.startRedis();
    await this.startBackend();
    await this.startVite();
    this.startCapture();
    if (opts.poses !== false) await this.startPoses();
  }

  private async startRedis(): Promise<void> {
    if (process.env.REDIS_URL) {
      this.redisUrl = process.env.REDIS_URL;
      return;
    }
    const port = await freePort();
    this.redis = new Proc("redis-server", "redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]);
    await until("redis-server", () => listening(port), 10_000);
    this.redisUrl = `redis://127.0.0.1:${port}/0`;
  }

  async startBackend(): Promise<void> {
    this.backendPort ||= await freePort();
    this.backend = new Proc("backend-api", process.execPath, ["--import", "tsx", "src/server.ts"], {
      cwd: BACKEND,
      env: {
        PORT: String(this.backendPort),
        HOST: "127.0.0.1",
        LOG_LEVEL: "warn",
        REDIS_URL: this.redisUrl,
        MONGO_URL: `mongodb://127.0.0.1:${await freePort()}`, // the live view needs no MongoDB
        KINECT_STREAM: this.streams.frames,
        KINECT_RESULTS_STREAM: this.streams.results,
        UPLOADS_DIR: path.join(os.tmpdir(), "e2e-uploads"),
        RESULTS_DIR: path.join(os.tmpdir(), "e2e-results"),
      },
    });
    await until(`backend-api on ${this.backendPort}`, async () => {
      if (!this.backend!.alive()) throw new Error(`backend-api exited: ${this.backend!.output}`);
      return fetch(`${this.api}/api/live/status`).then((r) => r.ok, () => false);
    }, 30_000);
  }

  private async startVite(): Promise<void> {
    this.frontendPort = await freePort();
    const vite = path.join(FRONTEND, "node_modules/vite/bin/vite.js");
    this.vite = new Proc("vite", process.execPath, [vite, "--host", "127.0.0.1", "--port", String(this.frontendPort), "--strictPort"], {
      cwd: FRONTEND,
      env: { BACKEND_URL: this.api, LOG_LEVEL: "warn" },
    });
    await until(`vite on ${this.frontendPort}`, async () => {
      if (!this.vite!.alive()) throw new Error(`vite exited: ${this.vite!.output}`);
      return fetch(`${this.frontend}/live`).then((r) => r.ok, () => false);
    }, 30_000);
  }

  startCapture(): void {
    const bin = process.env.DEVSTACK_BIN ?? path.join(REPO, "target/debug/devstack");
    if (!existsSync(bin)) throw new Error(`${bin} is missing: build it with \`cargo build\` (or set DEVSTACK_BIN)`);
    this.capture = new Proc("capture", bin, [
      "kinect", "capture", "--source", "synthetic", "--redis", this.redisUrl, "--stream", this.streams.frames,
    ]);
  }

  async stopCapture(): Promise<void> {
    await this.capture?.stop("SIGINT");
  }

  async startPoses(): Promise<void> {
    this.poses = new PosePublisher(this.redisUrl, this.streams.frames, this.streams.results);
    await this.poses.start();
  }

  async stopPoses(): Promise<void> {
    await this.poses?.stop();
    this.poses = undefined;
  }

  /** A page of /live in chromium with a fresh profile (one browser per stack). */
  async page(): Promise<Page> {
    if (!this.browser) {
      this.profile = await mkdtemp(path.join(os.tmpdir(), "e2e-chromium-"));
      this.browser = await chromium.launchPersistentContext(this.profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: CHROMIUM_FLAGS,
        viewport: { width: 1400, height: 1100 },
        deviceScaleFactor: 1,
      });
    }
    const page = await this.browser.newPage();
    await page.goto(`${this.frontend}/live`);
    return page;
  }

  async stop(): Promise<void> {
    await this.browser?.close().catch(() => {});
    await this.stopPoses().catch(() => {});
    for (const p of [this.capture, this.vite, this.backend, this.redis]) await p?.stop();
    if (this.profile) await rm(this.profile, { recursive: true, force: true });
  }
}
