// Writers of the live streams for the tests, in the formats their real writers use (see
// src/live/entries.ts): frames as devstack's capture lays them out, and pose results as
// pose-service publishes them. Test stand-ins only: the shipped services have no such mode.
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { request } from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { createClient } from "redis";
import sharp from "sharp";

import { freePort } from "./helpers.js";

type Client = ReturnType<typeof createClient>;

export async function redisClient(url: string): Promise<Client> {
  const client = createClient({ url });
  await client.connect();
  return client;
}

export function uniqueStreams() {
  const tag = `${process.pid}:${Math.random().toString(36).slice(2)}`;
  return { frames: `test:frames:${tag}`, results: `test:results:${tag}` };
}

export interface FrameSize {
  colorW: number;
  colorH: number;
  depthW: number;
  depthH: number;
}

export const SMALL: FrameSize = { colorW: 320, colorH: 180, depthW: 160, depthH: 144 };

/** A JPEG of the given size, one flat colour, so tests can tell frames apart by their seq. */
export function jpeg(width: number, height: number, rgb: [number, number, number]): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } })
    .jpeg({ quality: 80 })
    .toBuffer();
}

/** DEPTH16: a wall at 3 m with a person-sized patch at 1.5 m. */
export function depth(width: number, height: number): Buffer {
  const out = Buffer.alloc(width * height * 2);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const near = Math.abs(x - width / 2) < width / 8 && Math.abs(y - height / 2) < height / 3;
      out.writeUInt16LE(near ? 1500 : 3000, (y * width + x) * 2);
    }
  }
  return out;
}

export class FramePublisher {
  seq = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Client,
    private readonly stream: string,
    private readonly size: FrameSize,
    private readonly color: Buffer,
    private readonly depthImage: Buffer | null = depth(size.depthW, size.depthH),
  ) {}

  async publish(): Promise<number> {
    const seq = ++this.seq;
    const s = this.size;
    await this.client.xAdd(
      this.stream,
      "*",
      {
        seq: String(seq),
        device_ts_usec: String(seq * 33333),
        host_ts_ns: String(BigInt(Date.now()) * 1_000_000n),
        source: "synthetic",
        depth_w: String(this.depthImage ? s.depthW : 0),
        depth_h: String(this.depthImage ? s.depthH : 0),
        color_format: "mjpg",
        color_w: String(s.colorW),
        color_h: String(s.colorH),
        depth: this.depthImage ?? Buffer.alloc(0),
        color: this.color,
      },
      { TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: 30 } },
    );
    return seq;
  }

  start(fps: number): void {
    this.timer = setInterval(() => void this.publish().catch(() => {}), 1000 / fps);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

export interface Person {
  id: number;
  score: number;
  bbox: number[];
  keypoints_2d: number[][];
}

export function person(id: number, x: number, y: number, joints = 44): Person {
  return {
    id,
    score: 0.93,
    bbox: [x - 50, y - 150, x + 50, y + 150],
    keypoints_2d: Array.from({ length: joints }, (_, j) => [x + j, y - 100 + 5 * j]),
  };
}

export async function publishPose(client: Client, stream: string, seq: number, people: unknown[]): Promise<void> {
  await client.xAdd(
    stream,
    "*",
    {
      seq: String(seq),
      host_ts_ns: String(BigInt(Date.now()) * 1_000_000n),
      source: "synthetic",
      color_w: "320",
      color_h: "180",
      latency_ms: "12.5",
      people: JSON.stringify(people),
    },
    { TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: 1000 } },
  );
}

/** The real server (src/server.ts) in its own process, for what only a process shows: start-up
 * without MongoDB, and its memory. */
export async function startServer(env: Record<string, string>) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: root,
    env: { ...process.env, LOG_LEVEL: "warn", HOST: "127.0.0.1", PORT: String(port), ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (d) => (stderr += d));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`backend-api exited (${child.exitCode}): ${stderr}`);
    if (await fetch(`${base}/api/live/status`).then((r) => r.ok, () => false)) break;
    if (i > 300) throw new Error(`backend-api did not answer within 30 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    pid: child.pid!,
    async rssKiB(): Promise<number> {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

export interface SseEvent {
  event: string;
  data: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** An event-stream reader over a raw HTTP request, so a test can stop reading (pause). */
export function openEvents(url: string) {
  const events: SseEvent[] = [];
  let buffer = "";
  let res: import("node:http").IncomingMessage | undefined;
  const req = request(url);
  const ready = new Promise<void>((resolve, reject) => {
    req.once("error", reject);
    req.once("response", (r) => {
      res = r;
      r.setEncoding("utf8");
      r.on("data", (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      });
      resolve();
    });
  });
  req.end();
  return {
    events,
    ready,
    of: (kind: string) => events.filter((e) => e.event === kind).map((e) => e.data),
    pause: () => res?.pause(),
    resume: () => res?.resume(),
    close: () => req.destroy(),
  };
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
