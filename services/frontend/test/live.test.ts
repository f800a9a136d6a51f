// The Live page's logic without a browser: what it says in each state, which poses go with a
// frame, and what the skeleton drawing draws. (The page itself runs in chromium: e2e/.)
import { describe, expect, it } from "vitest";

import { PoseBook, STALE_AFTER, TOO_OLD, type PoseEvent } from "../src/live/poses";
import { BONES, JOINTS, drawPeople, colourOf, PALETTE, type Pen } from "../src/live/skeleton";
import { commands, percentile, view, type LiveStatus } from "../src/live/state";

function status(state: LiveStatus["state"], message = "m", fix: string | null = null): LiveStatus {
  return {
    state,
    message,
    fix,
    camera: { flowing: true, fps: 30, last_seq: 1, source: "synthetic", publish_latency_ms: 1 },
    pose: { flowing: true, fps: 30, last_seq: 1, latency_ms: 5, people: 1 },
  };
}

describe("what the page says", () => {
  it("names the missing part and the commands from the backend's fix", () => {
    const fix = "`devstack doctor` checks the camera; `devstack logs kinect` says why";
    expect(view(status("no_camera", "no camera: the last frame came 3.0 s ago", fix), 100, true)).toEqual({
      kind: "no_camera",
      title: "No camera",
      detail: "no camera: the last frame came 3.0 s ago",
      fix: ["devstack doctor", "devstack logs kinect"],
    });
    expect(view(status("no_pose", "m", "`devstack logs pose` shows …"), 100, true).title).toBe("No pose service");
    expect(view(status("no_redis", "m", "`devstack ps`"), 100, true).kind).toBe("no_frames");
    expect(view(status("ok"), 100, true).kind).toBe("ok");
  });

  it("says no frames when the events stop or never connect, whatever the last status said", () => {
    const cut = view(status("ok"), 3500, true);
    expect(cut.kind).toBe("no_frames");
    expect(cut.fix).toEqual(["devstack ps", "devstack logs backend-api"]);
    expect(view(status("ok"), 100, false).kind).toBe("no_frames");
    expect(view(null, null, true).kind).toBe("connecting");
    expect(view(status("starting"), 100, true).kind).toBe("connecting");
  });

  it("reads commands written in backticks", () => {
    expect(commands("run `a b` then `c`")).toEqual(["a b", "c"]);
    expect(commands(null)).toEqual([]);
  });

  it("percentiles by nearest rank", () => {
    expect(percentile([], 50)).toBeNull();
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentile(Array.from({ length: 100 }, (_, i) => i + 1), 95)).toBe(95);
  });
});

const pose = (seq: number): PoseEvent => ({ seq, host_ts_ns: 0, latency_ms: 1, frame: true, people: [{ id: seq }] });

describe("poses for a frame", () => {
  it("are its own when they came, else the newest earlier ones, marked stale past a few frames", () => {
    const book = new PoseBook();
    [10, 11, 14].forEach((s) => book.add(pose(s)));
    expect(book.forFrame(11)).toMatchObject({ pose: { seq: 11 }, lag: 0, stale: false });
    expect(book.forFrame(13)).toMatchObject({ pose: { seq: 11 }, lag: 2, stale: false });
    expect(book.forFrame(14 + STALE_AFTER + 1)).toMatchObject({ pose: { seq: 14 }, stale: true });
    expect(book.forFrame(14 + TOO_OLD + 1)).toBeNull();
    expect(book.forFrame(9)).toBeNull();
  });

  it("start again when the capture restarts its seq", () => {
    const book = new PoseBook();
    book.add(pose(5000));
    book.add(pose(3));
    expect(book.forFrame(5000)).toBeNull();
    expect(book.forFrame(3)?.pose.seq).toBe(3);
  });
});

/** Records what was drawn: each filled circle's centre and each line, with the colour. */
function recorder() {
  const joints: Array<[number, number, string]> = [];
  const lines: Array<[number, number, number, number, string]> = [];
  let from: [number, number] = [0, 0];
  let dash: number[] = [];
  const pen = {
    strokeStyle: "",
    fillStyle: "",
    lineWidth: 1,
    globalAlpha: 1,
    font: "",
    save() {},
    restore() {},
    beginPath() {},
    setLineDash(d: number[]) {
      dash = d;
    },
    moveTo(x: number, y: number) {
      from = [x, y];
    },
    lineTo(x: number, y: number) {
      lines.push([from[0], from[1], x, y, String(pen.strokeStyle)]);
    },
    stroke() {},
    arc(x: number, y: number) {
      joints.push([x, y, String(pen.fillStyle)]);
    },
    fill() {},
    fillRect() {},
    fillText() {},
    measureText: () => ({ width: 40 }) as TextMetrics,
  };
  return { pen: pen as unknown as Pen, joints, lines, dash: () => dash, alpha: () => pen.globalAlpha };
}

describe("the skeleton", () => {
  it("has the 24 BODY_25 bones between its 25 joints", () => {
    expect(JOINTS).toHaveLength(25);
    expect(BONES).toHaveLength(24);
    expect(BONES.flat().every((j) => j >= 0 && j < 25)).toBe(true);
    expect(new Set(BONES.flat()).size).toBe(25); // every joint is on a bone
  });

  it("draws the 25 joints where the keypoints say, not HMR 2.0's 19 extras, in the person's colour", () => {
    const kp = Array.from({ length: 44 }, (_, j) => (j < 25 ? [100 + j, 200 + 2 * j] : [900, 900]));
    const r = recorder();
    drawPeople(r.pen, [{ id: 7, score: 0.8, bbox: [0, 0, 10, 10], keypoints_2d: kp }]);
    expect(r.joints).toHaveLength(25);
    expect(r.joints[4]).toEqual([104, 208, colourOf(7)]);
    expect(r.joints.some(([x]) => x === 900)).toBe(false);
    expect(r.lines).toHaveLength(24);
    expect(r.lines[0]).toEqual([101, 202, 108, 216, colourOf(7)]); // neck → mid hip
    expect(r.dash()).toEqual([]);
  });

  it("skips joints it was not given and draws stale poses dashed and faint", () => {
    const kp = [[1, 1], [2, 2], [Number.NaN, 3]];
    const r = recorder();
    drawPeople(r.pen, [{ id: 1, keypoints_2d: kp }], true);
    expect(r.joints).toHaveLength(2);
    expect(r.lines.map((l) => l.slice(0, 4))).toEqual([[2, 2, 1, 1]]); // neck → nose: the one bone with both ends
    expect(r.dash()).toEqual([8, 6]);
    expect(r.alpha()).toBeLessThan(1);
  });

  it("gives each id its own colour, wrapping around the palette", () => {
    expect(colourOf(1)).toBe(PALETTE[1]);
    expect(colourOf(PALETTE.length + 1)).toBe(PALETTE[1]);
    expect(colourOf(undefined)).toBe(PALETTE[0]);
  });
});
