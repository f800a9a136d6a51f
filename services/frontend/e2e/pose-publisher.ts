// A stand-in for the pose service's GPU model, for the browser suite and bench/live only: for
// every new frame in the frames stream it publishes a result as pose-service does
// (pose_service/kinect.py `publish`), with two people whose joints sit at known pixels.
import { createClient } from "redis";

/** BODY_25 stick figure around (x, 0): nose, neck, shoulders, elbows, wrists, hips, knees, … */
const FIGURE: Array<[number, number]> = [
  [0, 150], [0, 200], [-40, 200], [-60, 260], [-70, 320], [40, 200], [60, 260], [70, 320],
  [0, 340], [-25, 340], [-30, 430], [-35, 520], [25, 340], [30, 430], [35, 520],
  [-8, 142], [8, 142], [-18, 148], [18, 148], [50, 535], [45, 540], [30, 530], [-50, 535], [-45, 540], [-30, 530],
];

/** HMR 2.0 gives 44 joints; the 19 after BODY_25 are not drawn: they sit here, where the
 * test can check that nothing is. */
export const EXTRA_JOINT: [number, number] = [1100, 650];

export const PEOPLE_X = [300, 900];

export function joints(x: number): number[][] {
  const body = FIGURE.map(([dx, y]) => [x + dx, y]);
  return [...body, ...Array.from({ length: 19 }, () => [...EXTRA_JOINT])];
}

export function people() {
  return PEOPLE_X.map((x, i) => ({
    id: i + 1,
    score: 0.9 + i / 100,
    bbox: [x - 90, 120, x + 90, 560],
    keypoints_2d: joints(x),
    keypoints_3d: [],
    cam_t: [0, 0, 10],
    betas: [],
  }));
}

// The newest frame's header only (seq, host_ts_ns, colour size): the images stay in Redis.
const NEWEST_HEADER = `
local e = redis.call('XREVRANGE', KEYS[1], '+', ARGV[1], 'COUNT', 1)
if #e == 0 then return false end
local out = {e[1][1]}
local f = e[1][2]
for i = 1, #f, 2 do
  local k = f[i]
  if k == 'seq' or k == 'host_ts_ns' or k == 'source' or k == 'color_w' or k == 'color_h' then
    out[#out + 1] = k
    out[#out + 1] = f[i + 1]
  end
end
return out`;

export class PosePublisher {
  private readonly client: ReturnType<typeof createClient>;
  private running = false;
  private loop: Promise<void> | undefined;
  published = 0;

  constructor(
    private readonly redisUrl: string,
    private readonly frames: string,
    private readonly results: string,
  ) {
    this.client = createClient({ url: redisUrl });
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.client.quit();
  }

  private async run(): Promise<void> {
    let last = "-";
    const body = JSON.stringify(people());
    while (this.running) {
      const header = (await this.client.eval(NEWEST_HEADER, { keys: [this.frames], arguments: [last] })) as string[] | null;
      if (!header) {
        await new Promise((r) => setTimeout(r, 5)); // a new frame every 33 ms: 5 ms is soon enough
        continue;
      }
      last = `(${header[0]}`;
      const f = new Map<string, string>();
      for (let i = 1; i + 1 < header.length; i += 2) f.set(header[i], header[i + 1]);
      const capturedMs = Number(f.get("host_ts_ns")) / 1e6;
      await this.client.xAdd(
        this.results,
        "*",
        {
          seq: f.get("seq") ?? "0",
          host_ts_ns: f.get("host_ts_ns") ?? "0",
          source: f.get("source") ?? "synthetic",
          color_w: f.get("color_w") ?? "0",
          color_h: f.get("color_h") ?? "0",
          latency_ms: (Date.now() - capturedMs).toFixed(2),
          people: body,
        },
        { TRIM: { strategy: "MAXLEN", strategyModifier: "~", threshold: 1000 } },
      );
      this.published++;
    }
  }
}
