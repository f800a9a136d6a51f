// Pose results kept by the seq of the frame they were estimated on, so each shown frame gets
// its own people when they came, or else the newest earlier ones, marked stale.
import type { Person } from "./skeleton";

/** The `pose` event of /api/live/events (backend-api src/live/feed.ts). */
export interface PoseEvent {
  seq: number;
  host_ts_ns: number;
  latency_ms: number;
  frame: boolean;
  people: Person[];
}

const KEEP = 120; // 4 s at 30 fps
/** Poses this many frames older than the picture are drawn as such (dashed, faint): a GPU
 * at a few fps. A frame or two is the normal wait for a fast one, drawn as current. */
export const STALE_AFTER = 5;
/** Older than this many frames, poses say nothing about the picture any more. */
export const TOO_OLD = 90;

export class PoseBook {
  private bySeq = new Map<number, PoseEvent>();
  latest: PoseEvent | undefined;

  add(pose: PoseEvent): void {
    if (this.latest && pose.seq < this.latest.seq - KEEP) this.clear(); // the capture restarted
    this.bySeq.set(pose.seq, pose);
    if (this.bySeq.size > KEEP) this.bySeq.delete(this.bySeq.keys().next().value as number);
    if (!this.latest || pose.seq >= this.latest.seq) this.latest = pose;
  }

  /** The people for frame `seq`: its own, or the newest earlier ones, or none; `lag` is how
   * many frames older they are than the picture. */
  forFrame(seq: number): { pose: PoseEvent; lag: number; stale: boolean } | null {
    const own = this.bySeq.get(seq);
    if (own) return { pose: own, lag: 0, stale: false };
    let best: PoseEvent | undefined;
    for (const p of this.bySeq.values()) if (p.seq < seq && (!best || p.seq > best.seq)) best = p;
    if (!best || seq - best.seq > TOO_OLD) return null;
    const lag = seq - best.seq;
    return { pose: best, lag, stale: lag > STALE_AFTER };
  }

  clear(): void {
    this.bySeq.clear();
    this.latest = undefined;
  }
}
