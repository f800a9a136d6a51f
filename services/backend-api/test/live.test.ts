// The live routes over real sockets, reading real Redis streams written as the capture and the
// pose service write them (test/live-helpers.ts).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import sharp from "sharp";

import { buildApp } from "../src/app.js";
import { MongoJobStore } from "../src/jobs.js";
import { LiveFeed, redisLink } from "../src/live/feed.js";
import { JobQueue } from "../src/queue.js";
import { freePort, startRedis, tempDirs, testConfig, uniqueKey, type Redis } from "./helpers.js";
import {
  FramePublisher,
  SMALL,
  jpeg,
  openEvents,
  person,
  publishPose,
  redisClient,
  startServer,
  uniqueStreams,
  until,
} from "./live-helpers.js";

let redis: Redis;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

/** backend-api in this process with a live feed on fresh streams; MongoDB nowhere. */
async function startLive() {
  const dirs = await tempDirs();
  const streams = uniqueStreams();
  const config = testConfig({
    redisUrl: redis.url,
    mongoUrl: `mongodb://127.0.0.1:${await freePort()}`,
    uploadsDir: dirs.uploads,
    resultsDir: dirs.results,
    queueKey: uniqueKey(),
    kinectStream: streams.frames,
    kinectResultsStream: streams.results,
  });
  const store = MongoJobStore.connect(config.mongoUrl, config.mongoDb, 300);
  const queue = JobQueue.connect(config.redisUrl, config.queueKey, () => {});
  const live = new LiveFeed(redisLink(config.redisUrl, () => {}), streams);
  const app = await buildApp({ config, store, queue, live, logger: false });
  live.start();
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as { port: number };
  const writer = await redisClient(redis.url);
  const color = await jpeg(SMALL.colorW, SMALL.colorH, [200, 60, 40]);
  return {
    base: `http://127.0.0.1:${port}`,
    streams,
    writer,
    frames: new FramePublisher(writer, streams.frames, SMALL, color),
    status: async () => (await fetch(`http://127.0.0.1:${port}/api/live/status`)).json(),
    async close() {
      await app.close();
      await Promise.allSettled([live.close(), queue.close(), store.close(), writer.quit()]);
      await dirs.cleanup();
    },
  };
}

test("with no capture running the status says no camera, and how to find out why", async () => {
  const live = await startLive();
  try {
    await until("the first round read", async () => (await live.status()).state !== "starting");
    const s = await live.status();
    assert.equal(s.state, "no_camera");
    assert.match(s.message, /nothing was ever published to test:frames:/);
    assert.match(s.fix, /devstack doctor/);
    assert.equal(s.camera.flowing, false);
    const frame = await fetch(`${live.base}/api/live/frame.jpg`);
    assert.equal(frame.status, 503);
    assert.match((await frame.json()).fix, /devstack doctor/);
  } finally {
    await live.close();
  }
});

test("frames flowing without pose results: no pose service, camera fps and the newest frame", async () => {
  const live = await startLive();
  try {
    live.frames.start(30);
    await until("1.5 s of frames", async () => (await live.status()).camera.fps >= 25, 5000);
    const s = await live.status();
    assert.equal(s.state, "no_pose");
    assert.match(s.fix, /devstack logs pose/);
    assert.equal(s.camera.source, "synthetic");
    assert.deepEqual(s.camera.color, { format: "mjpg", width: 320, height: 180 });
    assert.ok(s.camera.fps > 25 && s.camera.fps < 35, `camera fps ${s.camera.fps}`);
    const res = await fetch(`${live.base}/api/live/frame.jpg`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "image/jpeg");
    assert.equal(res.headers.get("x-frame-source"), "synthetic");
    assert.ok(Number(res.headers.get("x-frame-seq")) >= live.frames.seq - 2);
    const meta = await sharp(Buffer.from(await res.arrayBuffer())).metadata();
    assert.deepEqual([meta.format, meta.width, meta.height], ["jpeg", 320, 180]);
  } finally {
    live.frames.stop();
    await live.close();
  }
});

test("frame.jpg: a held frame by seq, a downscaled one, the depth preview, and bad queries", async () => {
  const live = await startLive();
  try {
    const events = openEvents(`${live.base}/api/live/events`); // someone watches: every frame is read
    await events.ready;
    for (let i = 0; i < 5; i++) {
      await live.frames.publish();
      await until(`frame ${live.frames.seq}`, () => events.of("frame").some((f) => f.seq === live.frames.seq));
    }
    const byseq = await fetch(`${live.base}/api/live/frame.jpg?seq=3`);
    assert.equal(byseq.status, 200);
    assert.equal(byseq.headers.get("x-frame-seq"), "3");
    const small = await fetch(`${live.base}/api/live/frame.jpg?width=80`);
    const smallMeta = await sharp(Buffer.from(await small.arrayBuffer())).metadata();
    assert.deepEqual([smallMeta.width, smallMeta.height], [80, 45]);
    const depth = await fetch(`${live.base}/api/live/frame.jpg?depth=1`);
    const depthImg = sharp(Buffer.from(await depth.arrayBuffer()));
    assert.deepEqual([(await depthImg.metadata()).width, (await depthImg.metadata()).height], [160, 144]);
    // The near patch in the middle and the far wall in a corner have different colours.
    const { data } = await depthImg.raw().toBuffer({ resolveWithObject: true });
    const px = (x: number, y: number) => [...data.subarray((y * 160 + x) * 3, (y * 160 + x) * 3 + 3)];
    assert.notDeepEqual(px(80, 72), px(5, 5));
    const gone = await fetch(`${live.base}/api/live/frame.jpg?seq=999`);
    assert.equal(gone.status, 404);
    assert.match((await gone.json()).error, /frame 999 is no longer held \(the newest is 5\)/);
    for (const [q, name] of [["width=abc", "width"], ["width=4", "width"], ["depth=yes", "depth"], ["seq=-1", "seq"]]) {
      const bad = await fetch(`${live.base}/api/live/frame.jpg?${q}`);
      assert.equal(bad.status, 400, q);
      assert.match((await bad.json()).error, new RegExp(`^\\?${name}=`), q);
    }
    events.close();
  } finally {
    await live.close();
  }
});

test("events: frames in order, each pose result with its frame's seq, then ok", async () => {
  const live = await startLive();
  try {
    const events = openEvents(`${live.base}/api/live/events`);
    await events.ready;
    for (let i = 0; i < 3; i++) {
      const seq = await live.frames.publish();
      await until(`frame ${seq}`, () => events.of("frame").some((f) => f.seq === seq));
      await publishPose(live.writer, live.streams.results, seq, [person(1, 100 + seq, 90)]);
    }
    await until("three poses", () => events.of("pose").length >= 3);
    assert.deepEqual(events.of("frame").map((f) => f.seq), [1, 2, 3]);
    const poses = events.of("pose");
    assert.deepEqual(poses.map((p) => [p.seq, p.frame]), [[1, true], [2, true], [3, true]]);
    assert.deepEqual(poses[2].people[0].keypoints_2d[0], [103, -10]);
    assert.equal(poses[2].people[0].id, 1);
    live.frames.start(30);
    await publishPose(live.writer, live.streams.results, 3, [person(1, 103, 90)]);
    await until("a status that says ok", () => events.of("status").some((s) => s.state === "ok"), 5000);
    events.close();
  } finally {
    live.frames.stop();
    await live.close();
  }
});

test("when the capture stops the status turns to no camera, and back when it returns", async () => {
  const live = await startLive();
  try {
    const events = openEvents(`${live.base}/api/live/events`);
    await events.ready;
    live.frames.start(30);
    await until("frames", async () => (await live.status()).camera.flowing);
    live.frames.stop();
    await until("no camera", async () => (await live.status()).state === "no_camera", 5000);
    assert.match((await live.status()).message, /the last frame \(seq \d+\) came \d+\.\d s ago/);
    live.frames.start(30);
    await until("frames again", async () => (await live.status()).camera.flowing, 5000);
    events.close();
  } finally {
    live.frames.stop();
    await live.close();
  }
});

test("with MongoDB down the server starts, its live routes work, and /health says jobs are degraded", async () => {
  const streams = uniqueStreams();
  const dirs = await tempDirs();
  const server = await startServer({
    REDIS_URL: redis.url,
    MONGO_URL: `mongodb://127.0.0.1:${await freePort()}`,
    KINECT_STREAM: streams.frames,
    KINECT_RESULTS_STREAM: streams.results,
    UPLOADS_DIR: dirs.uploads,
    RESULTS_DIR: dirs.results,
  });
  const writer = await redisClient(redis.url);
  const frames = new FramePublisher(writer, streams.frames, SMALL, await jpeg(320, 180, [0, 0, 255]));
  try {
    frames.start(30);
    await until("frames", async () => (await (await fetch(`${server.base}/api/live/status`)).json()).camera.flowing, 5000);
    assert.equal((await fetch(`${server.base}/api/live/frame.jpg`)).status, 200);
    const health = await fetch(`${server.base}/health`);
    assert.equal(health.status, 200);
    const body = await health.json();
    assert.equal(body.status, "degraded");
    assert.equal(body.redis.ok, true);
    assert.match(body.degraded.join("\n"), /^jobs: MongoDB does not answer .*the live view works$/);
  } finally {
    frames.stop();
    await writer.quit();
    await server.stop();
    await dirs.cleanup();
  }
});

test("a reader that stops reading the events is sent the newest, not a backlog, and memory stays flat", async () => {
  const streams = uniqueStreams();
  const dirs = await tempDirs();
  const server = await startServer({
    REDIS_URL: redis.url,
    KINECT_STREAM: streams.frames,
    KINECT_RESULTS_STREAM: streams.results,
    UPLOADS_DIR: dirs.uploads,
    RESULTS_DIR: dirs.results,
  });
  const writer = await redisClient(redis.url);
  // ~100 KB per result (40 people): the socket's buffers fill within seconds.
  const crowd = Array.from({ length: 40 }, (_, i) => person(i + 1, 10 * i, 90));
  let seq = 0;
  const poses = setInterval(() => void publishPose(writer, streams.results, ++seq, crowd).catch(() => {}), 1000 / 30);
  const stalled = openEvents(`${server.base}/api/live/events`);
  try {
    await stalled.ready;
    await until("the first poses", () => stalled.of("pose").length > 0);
    stalled.pause();
    const status = async () => (await (await fetch(`${server.base}/api/live/status`)).json());
    await until("events dropped for the stalled reader", async () => (await status()).clients.events_dropped > 30, 40_000);
    const dropped0 = (await status()).clients.events_dropped;
    const rss: number[] = [];
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 1000)); // 30 more results, ~3 MB, that it cannot take
      rss.push(await server.rssKiB());
    }
    const dropped1 = (await status()).clients.events_dropped;
    assert.ok(dropped1 - dropped0 > 200, `dropped ${dropped1 - dropped0} of ~300 while stalled`);
    // RSS moves with the garbage collector; a queue would raise its floor by ~3 MB a second.
    const growth = Math.min(...rss.slice(-3)) - Math.min(...rss.slice(0, 3));
    assert.ok(growth < 16 * 1024, `backend-api RSS ${rss.join(", ")} KiB while the reader was stalled`);
    clearInterval(poses);
    const last = seq;
    stalled.resume();
    await until("the newest result after resuming", () => stalled.of("pose").some((p) => p.seq === last), 20_000);
    const received = stalled.of("pose").length;
    assert.ok(received < last / 2, `received ${received} of ${last}: the backlog was not dropped`);
  } finally {
    clearInterval(poses);
    stalled.close();
    await writer.quit();
    await server.stop();
    await dirs.cleanup();
  }
});

test("with Redis down the live status says so and /health is unhealthy", async () => {
  const dirs = await tempDirs();
  const server = await startServer({
    REDIS_URL: `redis://127.0.0.1:${await freePort()}/0`,
    MONGO_URL: `mongodb://127.0.0.1:${await freePort()}`,
    UPLOADS_DIR: dirs.uploads,
    RESULTS_DIR: dirs.results,
  });
  try {
    const status = async () => (await (await fetch(`${server.base}/api/live/status`)).json());
    await until("no_redis", async () => (await status()).state === "no_redis", 5000);
    assert.match((await status()).fix, /devstack ps/);
    const health = await fetch(`${server.base}/health`);
    assert.equal(health.status, 503);
    assert.match((await health.json()).degraded[0], /^jobs and live view: Redis does not answer/);
  } finally {
    await server.stop();
    await dirs.cleanup();
  }
});
