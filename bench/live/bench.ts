// The live view's numbers (issue 27), on the chain the browser suite runs (services/frontend/
// e2e/stack.ts): devstack's synthetic capture at 30 fps → Redis → backend-api → the Vite dev
// server → chromium, with the test publisher of pose results standing in for the GPU model.
//
//   1. capture → browser: the frame's host timestamp to the page's paint (the Live page's own
//      measurement: the animation frame after the one that drew it), p50/p95/p99, shown fps
//   2. backend-api CPU and memory with 0, 1, 2, 4, 8 clients doing what the page does (the
//      event stream, and each announced frame fetched when the one before is in), straight
//      to backend-api so its cost is not mixed with the browser's
//   3. a client that reads frames at 5 fps for a minute: what it gets, backend memory
//   4. a client that stops reading its event stream for a minute: backend memory, drops
//
// Run with bench/live/run.sh (builds what is missing). Results: bench/live/results/.
import { mkdirSync, writeFileSync } from "node:fs";
import { Agent, request, type IncomingMessage } from "node:http";
import os from "node:os";
import path from "node:path";

import { LiveStack } from "../../services/frontend/e2e/stack";
import { percentile } from "../../services/frontend/src/live/state";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const WINDOW_S = quick ? 8 : 20;
const LONG_S = quick ? 20 : 60;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (v: number | null, d = 1) => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);

/** A client doing what the Live page does, without a browser. */
class ProtocolClient {
  frames = 0;
  seqs: number[] = [];
  private req: ReturnType<typeof request> | undefined;
  private res: IncomingMessage | undefined;
  private announced = 0;
  private fetched = 0;
  private busy = false;
  private agent = new Agent({ keepAlive: true, maxSockets: 1 });

  constructor(
    private readonly api: string,
    private readonly follow = true,
  ) {}

  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.req = request(`${this.api}/api/live/events`, (res) => {
        this.res = res;
        let buf = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buf += chunk;
          let end: number;
          while ((end = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, end);
            buf = buf.slice(end + 2);
            if (block.startsWith("event: frame") && this.follow) {
              this.announced = JSON.parse(block.slice(block.indexOf("data: ") + 6)).seq;
              void this.pump();
            }
          }
        });
        resolve();
      });
      this.req.once("error", reject);
      this.req.end();
    });
  }

  async fetchFrame(seq?: number): Promise<number> {
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const r = request(`${this.api}/api/live/frame.jpg${seq ? `?seq=${seq}` : ""}`, { agent: this.agent }, resolve);
      r.once("error", reject);
      r.end();
    });
    for await (const _ of res); // eslint-disable-line @typescript-eslint/no-unused-vars
    const got = Number(res.headers["x-frame-seq"]);
    if (res.statusCode === 200) {
      this.frames++;
      this.seqs.push(got);
    }
    return got;
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.announced !== this.fetched) {
        this.fetched = this.announced;
        await this.fetchFrame(this.fetched);
      }
    } catch {
      // the run is ending
    } finally {
      this.busy = false;
    }
  }

  pause(): void {
    this.res?.pause();
  }

  close(): void {
    this.req?.destroy();
    this.agent.destroy();
  }
}

async function backendUsage(stack: LiveStack, seconds: number) {
  const b = stack.backend!;
  const [cpu0, t0] = [await b.cpuSeconds(), performance.now()];
  const rss: number[] = [];
  for (let i = 0; i < seconds; i++) {
    await sleep(1000);
    rss.push(await b.rssKiB());
  }
  const cpu = ((await b.cpuSeconds()) - cpu0) / ((performance.now() - t0) / 1000);
  return { cpu_pct: round(cpu * 100), rss_mib_end: round(rss[rss.length - 1] / 1024), rss_mib_max: round(Math.max(...rss) / 1024) };
}

async function browserLatency(stack: LiveStack) {
  const page = await stack.page();
  await sleep(5000); // decoder and JIT warm-up
  const painted0 = await page.evaluate(() => window.devstackLive!.painted());
  const t0 = performance.now();
  await sleep(WINDOW_S * 1000);
  const lat = await page.evaluate(() => window.devstackLive!.latencies());
  const painted = (await page.evaluate(() => window.devstackLive!.painted())) - painted0;
  const recent = lat.slice(-painted);
  await page.close();
  await stack.browser!.close();
  stack.browser = undefined;
  return {
    frames: recent.length,
    shown_fps: round(painted / ((performance.now() - t0) / 1000)),
    p50_ms: round(percentile(recent, 50)),
    p95_ms: round(percentile(recent, 95)),
    p99_ms: round(percentile(recent, 99)),
  };
}

async function perClient(stack: LiveStack) {
  const rows = [];
  for (const n of [0, 1, 2, 4, 8]) {
    const clients = Array.from({ length: n }, () => new ProtocolClient(stack.api));
    await Promise.all(clients.map((c) => c.open()));
    await sleep(3000);
    const before = clients.map((c) => c.frames);
    const usage = await backendUsage(stack, WINDOW_S);
    const got = clients.map((c, i) => (c.frames - before[i]) / WINDOW_S);
    clients.forEach((c) => c.close());
    rows.push({ clients: n, ...usage, fps_per_client: round(got.length ? Math.min(...got) : null) });
    await sleep(1000);
  }
  return rows;
}

async function slowReader(stack: LiveStack) {
  const client = new ProtocolClient(stack.api, false);
  await client.open();
  const rss: number[] = [];
  const started = performance.now();
  while (performance.now() - started < LONG_S * 1000) {
    await client.fetchFrame();
    if (client.frames % 25 === 0) rss.push(await stack.backend!.rssKiB());
    await sleep(200);
  }
  client.close();
  const gaps = client.seqs.slice(1).map((s, i) => s - client.seqs[i]);
  return {
    seconds: LONG_S,
    frames: client.frames,
    mean_seq_gap: round(gaps.reduce((a, b) => a + b, 0) / gaps.length),
    older_frames_received: gaps.filter((g) => g <= 0).length,
    rss_mib_first: round(rss[0] / 1024),
    rss_mib_last: round(rss[rss.length - 1] / 1024),
    rss_mib_max: round(Math.max(...rss) / 1024),
  };
}

async function stalledReader(stack: LiveStack) {
  const client = new ProtocolClient(stack.api, false);
  await client.open();
  await sleep(1000);
  client.pause();
  const status = async () => (await (await fetch(`${stack.api}/api/live/status`)).json()).clients.events_dropped as number;
  const dropped0 = await status();
  const rss: number[] = [];
  for (let i = 0; i < LONG_S / 5; i++) {
    await sleep(5000);
    rss.push(await stack.backend!.rssKiB());
  }
  const dropped = (await status()) - dropped0;
  client.close();
  return { seconds: LONG_S, events_dropped: dropped, rss_mib_first: round(rss[0] / 1024), rss_mib_last: round(rss[rss.length - 1] / 1024), rss_mib_max: round(Math.max(...rss) / 1024) };
}

async function main() {
  const stack = new LiveStack();
  const load0 = os.loadavg()[0];
  await stack.start();
  try {
    const result = {
      when: new Date().toISOString(),
      machine: `${os.cpus().length} CPU ${os.cpus()[0].model}, ${round(os.totalmem() / 2 ** 30, 0)} GiB, Linux ${os.release()}`,
      node: process.version,
      capture: process.env.DEVSTACK_BIN ?? "target/debug/devstack",
      load_average_start: round(load0, 2),
      browser: await browserLatency(stack),
      per_client: await perClient(stack),
      slow_reader_5fps: await slowReader(stack),
      stalled_event_reader: await stalledReader(stack),
      load_average_end: round(os.loadavg()[0], 2),
    };
    const dir = path.join(path.dirname(new URL(import.meta.url).pathname), "results");
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `run-${result.when.replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}.json`);
    writeFileSync(file, JSON.stringify(result, null, 2) + "\n");
    console.log(JSON.stringify(result, null, 2));
    console.log(`written to ${path.relative(process.cwd(), file)}`);
  } finally {
    await stack.stop();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
