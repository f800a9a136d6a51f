// A real redis-server for the tests: REDIS_URL when given, else one started here on a free port.
import { spawn } from "node:child_process";
import { createServer, Socket } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { loadConfig, type Config } from "../src/config.js";

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

export interface Redis {
  url: string;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<Redis> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, stop: async () => {} };
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  await new Promise<void>((resolve, reject) => {
    child.once("error", (err) => reject(new Error(`cannot start redis-server (install it, or set REDIS_URL): ${err.message}`)));
    child.once("spawn", () => resolve());
  });
  const url = `redis://127.0.0.1:${port}/0`;
  // Wait until it accepts connections.
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const sock = new Socket();
      sock.once("connect", () => (sock.destroy(), resolve(true)));
      sock.once("error", () => resolve(false));
      sock.connect(port, "127.0.0.1");
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** A unique queue key per test so tests can share one Redis. */
export function uniqueKey(): string {
  return `test:jobs:${process.pid}:${Math.random().toString(36).slice(2)}`;
}

export async function tempDirs() {
  const root = await mkdtemp(path.join(os.tmpdir(), "backend-test-"));
  return { root, uploads: path.join(root, "uploads"), results: path.join(root, "results"), cleanup: () => rm(root, { recursive: true, force: true }) };
}

export function testConfig(overrides: Partial<Config>): Config {
  return { ...loadConfig({}), logLevel: "silent", ...overrides };
}
