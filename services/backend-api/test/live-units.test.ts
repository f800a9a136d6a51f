import assert from "node:assert/strict";
import { test } from "node:test";

import { EntryError, parseFrame, parsePose, type RawEntry } from "../src/live/entries.js";
import { bgraToRgb, colouriseDepth, ImageError, nv12ToRgb } from "../src/live/images.js";
import { Rate } from "../src/live/rate.js";

function raw(id: string, fields: Record<string, string | Buffer>): RawEntry {
  return [Buffer.from(id), Object.entries(fields).flatMap(([k, v]) => [Buffer.from(k), Buffer.from(v)])];
}

test("a frame entry as the capture writes it", () => {
  const depth = Buffer.alloc(4 * 3 * 2);
  const f = parseFrame(
    raw("1796607453600-0", {
      seq: "57",
      device_ts_usec: "1899981",
      host_ts_ns: "1796607453599154091",
      source: "synthetic",
      depth_w: "4",
      depth_h: "3",
      color_format: "mjpg",
      color_w: "1280",
      color_h: "720",
      depth,
      color: Buffer.from([0xff, 0xd8]),
    }),
  );
  assert.equal(f.seq, 57);
  assert.equal(f.addedMs, 1796607453600);
  assert.ok(Math.abs(f.addedMs - f.hostTsNs / 1e6 - 0.846) < 0.01);
  assert.equal(f.colorFormat, "mjpg");
  assert.equal(f.depth?.length, 24);
});

test("a frame with colour or depth off has none", () => {
  const f = parseFrame(raw("1-0", { seq: "1", color_format: "off", depth: "", color: "" }));
  assert.equal(f.color, null);
  assert.equal(f.depth, null);
});

test("malformed entries name the field", () => {
  assert.throws(() => parseFrame(raw("1-0", { host_ts_ns: "1" })), /no `seq` field/);
  assert.throws(() => parseFrame(raw("1-0", { seq: "x" })), /`seq` is not a number: x/);
  assert.throws(
    () => parseFrame(raw("1-0", { seq: "1", depth_w: "4", depth_h: "3", depth: Buffer.alloc(5) })),
    /depth has 5 bytes, expected 4x3x2 = 24/,
  );
  assert.throws(() => parsePose(raw("1-0", { seq: "1", people: "{" })), EntryError);
  assert.throws(() => parsePose(raw("1-0", { seq: "1", people: "{}" })), /not a JSON list/);
});

test("a pose entry as pose-service publishes it", () => {
  const p = parsePose(
    raw("5-0", {
      seq: "42",
      host_ts_ns: "3000000",
      source: "k4a",
      color_w: "1280",
      color_h: "720",
      latency_ms: "87.5",
      people: JSON.stringify([{ id: 3, score: 0.97, bbox: [1, 2, 3, 4], keypoints_2d: [[5, 6]] }]),
    }),
  );
  assert.deepEqual([p.seq, p.latencyMs, p.colorW, p.people.length], [42, 87.5, 1280, 1]);
});

test("rates: per second over the window, none without enough samples, a reset on a restart", () => {
  const r = new Rate(2000);
  assert.equal(r.perSecond(), null);
  for (let i = 0; i <= 90; i++) r.add(i * 33.333, 100 + i); // 3 s at 30 fps: the window keeps 2 s
  assert.equal(r.perSecond(), 30);
  r.add(3100, 1); // seq starts again
  assert.equal(r.perSecond(), null);
});

test("colour conversions: bgra32 and nv12 to RGB, with sizes checked", () => {
  assert.deepEqual([...bgraToRgb(Buffer.from([1, 2, 3, 255, 4, 5, 6, 255]), 2, 1)], [3, 2, 1, 6, 5, 4]);
  assert.throws(() => bgraToRgb(Buffer.alloc(7), 2, 1), ImageError);
  // 2x2 NV12: Y = 235 (white) everywhere, neutral chroma.
  const white = nv12ToRgb(Buffer.from([235, 235, 235, 235, 128, 128]), 2, 2);
  assert.deepEqual([...white.subarray(0, 3)], [255, 255, 255]);
  assert.throws(() => nv12ToRgb(Buffer.alloc(3), 2, 2), /nv12 colour has 3 bytes, expected 6/);
});

test("depth preview: no return is black, near and far get different colours", () => {
  const depth = Buffer.alloc(3 * 2);
  depth.writeUInt16LE(0, 0);
  depth.writeUInt16LE(600, 2);
  depth.writeUInt16LE(5000, 4);
  const rgb = colouriseDepth(depth, 3, 1);
  assert.deepEqual([...rgb.subarray(0, 3)], [0, 0, 0]);
  assert.ok(rgb[3] > 200 && rgb[5] < 50, "near is red"); // red channel high, blue low
  assert.ok(rgb[8] > 200 && rgb[6] < 50, "far is blue");
});
