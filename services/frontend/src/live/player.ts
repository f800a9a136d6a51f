// The live picture: listens to backend-api's events, fetches the newest frame whenever the one
// before it is in (latest wins: a slow page skips frames, it never queues them), decodes it off
// the main thread, and paints it with its people on the next animation frame.
import { PoseBook, type PoseEvent } from "./poses";
import { drawPeople } from "./skeleton";
import { SILENCE_MS, type LiveStatus } from "./state";

interface FrameEvent {
  seq: number;
  host_ts_ns: number;
}

interface Shown {
  bitmap: ImageBitmap;
  seq: number;
  hostTsNs: number;
}

const now = () => performance.timeOrigin + performance.now(); // epoch ms, sub-ms resolution
const LATENCY_SAMPLES = 900; // 30 s at 30 fps
const RECONNECT_MS = 1000;

export class Player {
  status: LiveStatus | null = null;
  connected = false;
  lastEventAt: number | null = null;
  painted = 0;
  /** Capture (the frame's host timestamp) → on screen, ms, newest last. */
  readonly latencies: number[] = [];
  private paintTimes: number[] = [];
  private readonly poses = new PoseBook();
  private readonly pen: CanvasRenderingContext2D;
  private source: EventSource | undefined;
  private announced: FrameEvent | undefined;
  private fetchedSeq: number | undefined;
  private fetching = false;
  private pending: Shown | undefined;
  private shown: Shown | undefined;
  private frameRequested = false;
  private redraw = false;
  private stopped = false;
  private watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly base = "",
  ) {
    this.pen = canvas.getContext("2d", { alpha: false })!; // opaque: nothing to blend behind it
  }

  start(): void {
    if (this.stopped) return;
    const source = new EventSource(`${this.base}/api/live/events`);
    this.source = source;
    source.onopen = () => (this.connected = true);
    source.onerror = () => {
      this.connected = false;
      // A dropped stream is retried by the browser; a refused one (backend-api down behind the
      // dev server's proxy: 502) is closed for good, so the page tries again itself.
      if (source.readyState === EventSource.CLOSED) setTimeout(() => this.start(), RECONNECT_MS);
    };
    const heard = () => (this.lastEventAt = now());
    this.watchdog ??= setInterval(() => this.reviveSilent(), SILENCE_MS);
    source.addEventListener("status", (e) => {
      heard();
      this.status = JSON.parse((e as MessageEvent).data) as LiveStatus;
    });
    source.addEventListener("frame", (e) => {
      heard();
      this.announced = JSON.parse((e as MessageEvent).data) as FrameEvent;
      void this.pump();
    });
    source.addEventListener("pose", (e) => {
      heard();
      const pose = JSON.parse((e as MessageEvent).data) as PoseEvent;
      this.poses.add(pose);
      if (this.shown && pose.seq === this.shown.seq) this.schedule(true); // its own people arrived
    });
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.watchdog);
    this.source?.close();
  }

  /** Status events come every second. A stream that says nothing for longer is dead even if
   * it looks open (a proxy that kept the browser's side after backend-api went away). */
  private reviveSilent(): void {
    const source = this.source;
    if (!source || source.readyState !== EventSource.OPEN) return;
    if (this.lastEventAt !== null && now() - this.lastEventAt < SILENCE_MS) return;
    source.close();
    this.connected = false;
    this.start();
  }

  /** Paints per second over the last second. */
  fps(): number {
    const t = now();
    this.paintTimes = this.paintTimes.filter((p) => t - p < 1000);
    return this.paintTimes.length;
  }

  shownSeq(): number | undefined {
    return this.shown?.seq;
  }

  people() {
    return this.shown ? this.poses.forFrame(this.shown.seq) : null;
  }

  /** Fetches until the newest announced frame is in; one request at a time. */
  private async pump(): Promise<void> {
    if (this.fetching) return;
    this.fetching = true;
    try {
      while (this.announced && this.announced.seq !== this.fetchedSeq) {
        const wanted = this.announced.seq;
        this.fetchedSeq = wanted;
        let res = await fetch(`${this.base}/api/live/frame.jpg?seq=${wanted}`, { cache: "no-store" });
        if (res.status === 404) res = await fetch(`${this.base}/api/live/frame.jpg`, { cache: "no-store" });
        if (!res.ok) continue;
        const bitmap = await createImageBitmap(await res.blob(), { premultiplyAlpha: "none", colorSpaceConversion: "none" });
        this.present({
          bitmap,
          seq: Number(res.headers.get("x-frame-seq")),
          hostTsNs: Number(res.headers.get("x-frame-host-ts-ns")),
        });
      }
    } catch {
      // backend-api went away mid-request: the status shows it; the next event tries again
    } finally {
      this.fetching = false;
    }
  }

  private present(frame: Shown): void {
    if (this.shown && frame.seq < this.shown.seq - 1000) this.poses.clear(); // the capture restarted
    this.pending?.bitmap.close();
    this.pending = frame;
    this.schedule(false);
  }

  private schedule(redraw: boolean): void {
    this.redraw ||= redraw;
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => this.paint());
  }

  private paint(): void {
    this.frameRequested = false;
    const next = this.pending;
    this.pending = undefined;
    if (next) {
      this.shown?.bitmap.close();
      this.shown = next;
    } else if (!this.redraw) return;
    this.redraw = false;
    const shown = this.shown;
    if (!shown) return;
    const { canvas, pen } = this;
    if (canvas.width !== shown.bitmap.width || canvas.height !== shown.bitmap.height) {
      canvas.width = shown.bitmap.width;
      canvas.height = shown.bitmap.height;
    }
    pen.drawImage(shown.bitmap, 0, 0);
    const people = this.poses.forFrame(shown.seq);
    if (people) drawPeople(pen, people.pose.people, people.stale);
    canvas.dataset.seq = String(shown.seq);
    if (!next) return;
    this.painted++;
    canvas.dataset.painted = String(this.painted);
    // Measured at the next animation frame: by then this one has been painted.
    requestAnimationFrame(() => this.recordLatency(shown.hostTsNs));
  }

  private recordLatency(hostTsNs: number): void {
    const t = now();
    this.paintTimes.push(t);
    if (!hostTsNs) return;
    this.latencies.push(t - hostTsNs / 1e6);
    if (this.latencies.length > LATENCY_SAMPLES) this.latencies.shift();
  }
}
