// Rates over a sliding window of (time, counter) samples: the camera's fps from the frames'
// seq and capture clock (right even when the reader sees only some frames), the pose fps from
// the number of results read.

export class Rate {
  private samples: Array<[number, number]> = [];

  constructor(private readonly windowMs = 2000) {}

  /** `counter` only grows (a smaller one, a restarted capture, starts the window again). */
  add(tMs: number, counter: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && (counter < last[1] || tMs < last[0])) this.samples = [];
    this.samples.push([tMs, counter]);
    while (this.samples.length > 2 && tMs - this.samples[0][0] > this.windowMs) this.samples.shift();
  }

  /** Per second, or null without two samples at least 100 ms apart. */
  perSecond(): number | null {
    if (this.samples.length < 2) return null;
    const [t0, c0] = this.samples[0];
    const [t1, c1] = this.samples[this.samples.length - 1];
    if (t1 - t0 < 100) return null;
    return Math.round(((c1 - c0) * 1000 * 10) / (t1 - t0)) / 10;
  }

  clear(): void {
    this.samples = [];
  }
}
