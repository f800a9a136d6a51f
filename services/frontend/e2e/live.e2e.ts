// The Live page in a real browser (Debian's chromium, headless) against real redis-server,
// backend-api, the Vite dev server, devstack's synthetic capture, and a test publisher of
// pose results standing in for the GPU model.
import os from "node:os";

import { PNG } from "pngjs";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";

import { BONES, JOINTS, PALETTE } from "../src/live/skeleton";
import { percentile } from "../src/live/state";
import { EXTRA_JOINT, PEOPLE_X, joints } from "./pose-publisher";
import { LiveStack, until } from "./stack";

const stack = new LiveStack();
let page: Page;

beforeAll(async () => {
  await stack.start();
  page = await stack.page();
}, 120_000);

afterAll(async () => {
  await stack.stop();
});

const painted = async () => Number((await page.locator("#live-canvas").getAttribute("data-painted")) ?? 0);
const banner = async () => {
  const el = page.locator("#live-banner");
  return (await el.isHidden()) ? "" : ((await el.textContent()) ?? "");
};
/** Waits for the banner to start with `prefix` ("" = no banner), naming the last one seen. */
async function bannerBecomes(prefix: string, timeoutMs: number): Promise<string> {
  let last = "";
  try {
    await until(`banner "${prefix}"`, async () => ((last = await banner()), prefix ? last.startsWith(prefix) : last === ""), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the banner says: ${JSON.stringify(last)}`);
  }
  return last;
}

function hex(colour: string): [number, number, number] {
  return [1, 3, 5].map((i) => parseInt(colour.slice(i, i + 2), 16)) as [number, number, number];
}

it("shows the synthetic capture at 25 fps or more", async () => {
  await until("the first painted frame", async () => (await painted()) > 0, 20_000);
  await page.waitForTimeout(1000); // past the first frames' decoder warm-up
  const [n0, t0] = [await painted(), Date.now()];
  await page.waitForTimeout(4000);
  const fps = ((await painted()) - n0) / ((Date.now() - t0) / 1000);
  const load = os.loadavg()[0].toFixed(1);
  expect(fps, `shown fps (load average ${load} on ${os.cpus().length} CPUs: a busy machine slows chromium)`).toBeGreaterThanOrEqual(25);
  const source = await page.locator('[data-stat="source"]').textContent();
  expect(source).toBe("synthetic frames (no camera)");
  expect(await banner()).toBe(""); // frames and poses flow: nothing to say
});

it("draws each person's skeleton at the pixels the pose publisher put the joints at", async () => {
  const canvas = page.locator("#live-canvas");
  const box = (await canvas.boundingBox())!;
  const width = Number(await canvas.getAttribute("width"));
  expect(width).toBe(1280);
  const scale = box.width / width; // 1 with this viewport; kept general
  const people = page.locator('[data-stat="people"]');
  // A frame shown before its own poses came has the earlier ones drawn faint: take the picture
  // while the shown frame has its own (or nearly: within STALE_AFTER frames), before and after.
  let shot: PNG | undefined;
  for (let i = 0; i < 20 && !shot; i++) {
    if ((await people.textContent()) !== "#1 (0.90), #2 (0.91)") {
      await page.waitForTimeout(100);
      continue;
    }
    const png = await canvas.screenshot();
    if ((await people.textContent()) === "#1 (0.90), #2 (0.91)") shot = PNG.sync.read(png);
  }
  expect(shot, `the people stat never showed the current poses: ${await people.textContent()}`).toBeDefined();
  const at = (x: number, y: number) => {
    const i = (Math.round(y * scale) * shot!.width + Math.round(x * scale)) * 4;
    return [shot!.data[i], shot!.data[i + 1], shot!.data[i + 2]];
  };
  const near = (got: number[], want: number[], tol = 12) => got.every((v, k) => Math.abs(v - want[k]) <= tol);
  PEOPLE_X.forEach((x, i) => {
    const colour = hex(PALETTE[(i + 1) % PALETTE.length]); // ids 1 and 2
    const kp = joints(x);
    // Joints far enough from the others to be told apart: wrists, elbows, knees, ankles, neck, hip.
    for (const j of [1, 3, 4, 6, 7, 8, 10, 11, 13, 14]) {
      expect(near(at(kp[j][0], kp[j][1]), colour), `${JOINTS[j]} of person ${i + 1} at ${kp[j]}`).toBe(true);
    }
    // Bones between them: the middle of the neck → mid-hip line and of each forearm.
    for (const [a, b] of BONES.filter(([a, b]) => (a === 1 && b === 8) || (a === 3 && b === 4) || (a === 6 && b === 7))) {
      const mid = [(kp[a][0] + kp[b][0]) / 2, (kp[a][1] + kp[b][1]) / 2];
      expect(near(at(mid[0], mid[1]), colour), `bone ${JOINTS[a]}–${JOINTS[b]} of person ${i + 1}`).toBe(true);
    }
    // Beside the figure: the camera picture, not the skeleton's colour.
    expect(near(at(x + 150, 300), colour, 60)).toBe(false);
  });
  // HMR 2.0's 19 extra joints are not drawn.
  for (const colour of PALETTE) expect(near(at(EXTRA_JOINT[0], EXTRA_JOINT[1]), hex(colour), 40)).toBe(false);
});

it("says no camera when the capture stops, with the command that finds out why, and recovers", async () => {
  await stack.stopCapture();
  const text = await bannerBecomes("No camera", 8000);
  expect(text).toMatch(/the last frame \(seq \d+\) came \d+\.\d s ago/);
  expect(await page.locator("#live-banner code").allTextContents()).toEqual(["devstack doctor", "devstack logs kinect"]);
  stack.startCapture();
  await bannerBecomes("", 15_000);
  const n = await painted();
  await until("frames again", async () => (await painted()) > n + 30, 10_000);
});

it("says no pose service when results stop, while frames keep coming", async () => {
  await stack.stopPoses();
  await bannerBecomes("No pose service", 10_000);
  expect(await page.locator("#live-banner code").allTextContents()).toContain("devstack logs pose");
  const n = await painted();
  await until("frames still painted", async () => (await painted()) > n + 10, 5000);
  await stack.startPoses();
  await bannerBecomes("", 10_000);
});

it("says no frames when backend-api is gone, and recovers when it is back", async () => {
  await stack.backend!.stop();
  await bannerBecomes("No frames", 10_000);
  expect(await page.locator("#live-banner code").allTextContents()).toEqual(["devstack ps", "devstack logs backend-api"]);
  await stack.startBackend();
  await bannerBecomes("", 15_000);
});

it("a client reading frames at 5 fps gets the newest ones, skipping the rest, and backend memory stays flat", async () => {
  const seqs: number[] = [];
  const ages: number[] = [];
  const rss: number[] = [];
  const started = Date.now();
  while (Date.now() - started < 25_000) {
    const res = await fetch(`${stack.api}/api/live/frame.jpg`);
    await res.arrayBuffer();
    seqs.push(Number(res.headers.get("x-frame-seq")));
    ages.push(Number(res.headers.get("x-frame-age-ms")));
    if (seqs.length % 5 === 0) rss.push(await stack.backend!.rssKiB());
    await new Promise((r) => setTimeout(r, 200));
  }
  const gaps = seqs.slice(1).map((s, i) => s - seqs[i]);
  expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1); // never an older frame
  expect(gaps.reduce((a, b) => a + b, 0) / gaps.length).toBeGreaterThan(4); // ~6 at 30 fps: skipped, not queued
  // Each one the newest when asked for: read by backend-api within the last frame or so (a
  // busy machine can stall a capture or a loop now and then; a backlog would be seconds old).
  expect(percentile(ages, 50)).toBeLessThan(50);
  expect(Math.max(...ages)).toBeLessThan(1000);
  // The garbage collector moves RSS up and down by tens of MiB; what a queue would raise is the
  // floor (30 frames of ~150 KB a second: ~90 MiB over the run). Compare the floors.
  const floor = (xs: number[]) => Math.min(...xs);
  const growth = floor(rss.slice(-6)) - floor(rss.slice(2, 8));
  expect(growth, `backend-api RSS ${rss.join(", ")} KiB`).toBeLessThan(16 * 1024);
}, 60_000);
