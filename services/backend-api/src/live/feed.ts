// The live feed: the newest camera frame and the pose results, read from Redis once for all
// clients (one connection, one loop) and kept in a small bounded window. Latest wins: the
// loop asks for the newest frame, never for the backlog, so a slow backend skips frames
// instead of falling behind. While nobody watches, it samples the newest frame once a second
// (enough for the status) instead of moving ~27 MB/s of frames it would throw away.
import { EventEmitter } from "node:events";

import { commandOptions, createClient } from "redis";

import {
  EntryError,
  NEWEST_WITHOUT_DEPTH,
  entryId,
  parseFrame,
  parsePose,
  type FrameEntry,
  type PoseEntry,
  type RawEntry,
} from "./entries.js";
import { Rate } from "./rate.js";

export interface LiveKeys {
  frames: string;
  results: string;
}

export interface LiveFrame extends FrameEntry {
  /** performance.now() when this backend first read it. */
  seenAt: number;
  /** The SSE `frame` event's data, made once for every client. */
  event: string;
}

export interface LivePose extends PoseEntry {
  seenAt: number;
  event: string;
}

/** What the feed needs from Redis: one command at a time, replies with Buffers. */
export interface RedisLink {
  send(args: string[]): Promise<unknown>;
  close(): Promise<void>;
}

export function redisLink(url: string, onError: (err: Error) => void): RedisLink {
  const client = createClient({
    url,
    disableOfflineQueue: true,
    socket: { connectTimeout: 3000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000) },
  });
  client.on("error", onError);
  client.connect().catch(onError);
  const buffers = commandOptions({ returnBuffers: true });
  // Commands fail fast while disconnected; the first connection (and a reconnection) is
  // given a moment, so a starting backend does not report Redis down for nothing.
  const ready = (ms: number) =>
    new Promise<void>((resolve, reject) => {
      const done = () => (clearTimeout(timer), resolve());
      const timer = setTimeout(() => {
        client.off("ready", done);
        reject(new Error(`not connected to Redis (${lastError || "connecting"})`));
      }, ms);
      client.once("ready", done);
    });
  let lastError = "";
  client.on("error", (err: Error) => (lastError = err.message));
  return {
    send: async (args) => {
      if (!client.isReady) await ready(2000);
      return client.sendCommand(args, buffers);
    },
    close: async () => {
      if (client.isReady) await client.quit();
      else if (client.isOpen) await client.disconnect();
    },
  };
}

const WINDOW = 60; // frames kept for matching pose results to their frame: 2 s at 30 fps
const ACTIVE_AFTER_DEMAND_MS = 5000;
const IDLE_SAMPLE_MS = 1000;
/** Watched, the newest frame is asked for this often: a frame waits at most this long here.
 * (A blocking XREAD on the frames would hand over every frame's depth image too.) */
const POLL_MS = 4;
const IDLE_BLOCK_MS = 250;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class LiveFeed extends EventEmitter {
  private frames = new Map<number, LiveFrame>();
  private newestFrame: LiveFrame | undefined;
  private lastPose: LivePose | undefined;
  private depthCache: { id: string; depth: Buffer | null } | undefined;
  private frameId: string | null = null;
  private resultId: string | null = null;
  private lastSample = -Infinity;
  private lastDemand = -Infinity;
  private watchers = 0;
  private closed = false;
  private loopDone: Promise<void> | undefined;
  readonly cameraRate = new Rate();
  readonly poseRate = new Rate();
  private poseCount = 0;
  redisError: string | null = null;
  /** The first round has been read (before it, "no frames yet" would be a guess). */
  primed = false;
  lastStepAt = performance.now();
  badEntries = 0;

  constructor(
    private readonly redis: RedisLink,
    readonly keys: LiveKeys,
    private readonly onBadEntry: (stream: string, err: Error) => void = () => {},
  ) {
    super();
    this.setMaxListeners(0); // one listener per connected client
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.loopDone;
    await this.redis.close();
  }

  newest(): LiveFrame | undefined {
    return this.newestFrame;
  }

  frame(seq: number): LiveFrame | undefined {
    return this.frames.get(seq);
  }

  pose(): LivePose | undefined {
    return this.lastPose;
  }

  /** A client that wants every frame (an open event stream); call the result when it leaves. */
  watch(): () => void {
    this.watchers++;
    let released = false;
    return () => {
      if (!released) this.watchers--;
      released = true;
    };
  }

  get clients(): number {
    return this.watchers;
  }

  /** Someone asked for a frame: read every frame for a while. */
  touch(): void {
    this.lastDemand = performance.now();
  }

  private active(): boolean {
    return this.watchers > 0 || performance.now() - this.lastDemand < ACTIVE_AFTER_DEMAND_MS;
  }

  /** The newest frame, waiting up to `waitMs` for one read after now when the feed was idle. */
  async fresh(waitMs = 600): Promise<LiveFrame | undefined> {
    const wasActive = this.active();
    this.touch();
    if (wasActive && this.newestFrame) return this.newestFrame;
    await new Promise<void>((resolve) => {
      const done = () => (clearTimeout(timer), this.off("frame", done), resolve());
      const timer = setTimeout(done, waitMs);
      this.on("frame", done);
    });
    return this.newestFrame;
  }

  private async loop(): Promise<void> {
    while (!this.closed) {
      try {
        await this.step();
        this.redisError = null;
        this.primed = true;
      } catch (err) {
        this.redisError = (err as Error).message || String(err);
        await sleep(500);
      }
      this.lastStepAt = performance.now();
    }
  }

  private send(args: string[]): Promise<unknown> {
    return this.redis.send(args);
  }

  /** One round: the newest frame (when active, or once a second), the new results, and if
   * neither brought anything, a wait on the results stream: short while someone watches (the
   * next frame is polled for), up to a quarter second otherwise. */
  private async step(): Promise<void> {
    const active = this.active();
    let news = false;
    if (active || performance.now() - this.lastSample >= IDLE_SAMPLE_MS) {
      this.lastSample = performance.now();
      const newest = (await this.send(["EVAL", NEWEST_WITHOUT_DEPTH, "1", this.keys.frames, this.after(this.frameId)])) as RawEntry[];
      if (newest.length) {
        this.takeFrame(newest[0]);
        news = true;
      }
    }
    news = (await this.readResults()) || news;
    if (news || this.closed) return;
    const block = String(active ? POLL_MS : IDLE_BLOCK_MS);
    const reply = (await this.send(["XREAD", "COUNT", "100", "BLOCK", block, "STREAMS", this.keys.results, this.resultId ?? "$"])) as
      | Array<[Buffer, RawEntry[]]>
      | null;
    for (const [, entries] of reply ?? []) for (const entry of entries) this.takePose(entry);
  }

  /** The depth image of a frame read without it (one entry read by id; the last one kept). */
  async depthOf(frame: LiveFrame): Promise<Buffer | null> {
    if (frame.depth || !frame.depthW) return frame.depth;
    if (this.depthCache?.id === frame.id) return this.depthCache.depth;
    const entries = (await this.send(["XRANGE", this.keys.frames, frame.id, frame.id])) as RawEntry[];
    if (!entries.length) return null; // trimmed from the stream since
    const depth = parseFrame(entries[0]).depth;
    this.depthCache = { id: frame.id, depth };
    return depth;
  }

  private after(id: string | null): string {
    return id === null ? "-" : `(${id}`;
  }

  /** New results since the last read; the first read takes only the newest. */
  private async readResults(): Promise<boolean> {
    if (this.resultId === null) {
      const newest = (await this.send(["XREVRANGE", this.keys.results, "+", "-", "COUNT", "1"])) as RawEntry[];
      this.resultId = newest.length ? entryId(newest[0]) : "0-0";
      if (newest.length) this.takePose(newest[0]);
      return newest.length > 0;
    }
    const entries = (await this.send(["XRANGE", this.keys.results, `(${this.resultId}`, "+", "COUNT", "100"])) as RawEntry[];
    for (const entry of entries) this.takePose(entry);
    return entries.length > 0;
  }

  private takeFrame(raw: RawEntry): void {
    this.frameId = entryId(raw);
    let parsed: FrameEntry;
    try {
      parsed = parseFrame(raw);
    } catch (err) {
      return this.bad(this.keys.frames, err as Error);
    }
    if (this.newestFrame && parsed.seq <= this.newestFrame.seq) {
      if (parsed.seq === this.newestFrame.seq) return;
      this.frames.clear(); // the capture restarted: its seq starts again
    }
    const frame: LiveFrame = { ...parsed, seenAt: performance.now(), event: frameEvent(parsed) };
    this.newestFrame = frame;
    this.frames.set(frame.seq, frame);
    if (this.frames.size > WINDOW) this.frames.delete(this.frames.keys().next().value as number);
    this.cameraRate.add(frame.hostTsNs / 1e6, frame.seq);
    this.emit("frame", frame);
  }

  private takePose(raw: RawEntry): void {
    this.resultId = entryId(raw);
    let parsed: PoseEntry;
    try {
      parsed = parsePose(raw);
    } catch (err) {
      return this.bad(this.keys.results, err as Error);
    }
    const pose: LivePose = { ...parsed, seenAt: performance.now(), event: "" };
    pose.event = poseEvent(pose, this.frames.has(pose.seq));
    this.lastPose = pose;
    this.poseRate.add(pose.seenAt, ++this.poseCount);
    this.emit("pose", pose);
  }

  private bad(stream: string, err: Error): void {
    if (!(err instanceof EntryError)) throw err;
    this.badEntries++;
    this.onBadEntry(stream, err);
  }
}

function frameEvent(f: FrameEntry): string {
  return JSON.stringify({
    seq: f.seq,
    host_ts_ns: f.hostTsNs,
    source: f.source,
    color_w: f.colorW,
    color_h: f.colorH,
    color_format: f.colorFormat,
    depth_w: f.depthW,
    depth_h: f.depthH,
  });
}

/** `frame`: whether this backend still holds the frame the poses were estimated on
 * (GET /api/live/frame.jpg?seq=…). */
function poseEvent(p: PoseEntry, frameHeld: boolean): string {
  return JSON.stringify({
    seq: p.seq,
    host_ts_ns: p.hostTsNs,
    source: p.source,
    color_w: p.colorW,
    color_h: p.colorH,
    latency_ms: p.latencyMs,
    frame: frameHeld,
    people: p.people,
  });
}
