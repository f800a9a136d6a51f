// The HTTP API over real sockets with a real redis-server. MongoDB-backed cases run when
// MONGO_URL points at a server and are reported as skipped otherwise.
import assert from "node:assert/strict";
import { readdir, writeFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { after, before, test } from "node:test";

import { MongoClient } from "mongodb";

import { buildApp } from "../src/app.js";
import { MongoJobStore } from "../src/jobs.js";
import { JobQueue } from "../src/queue.js";
import { freePort, startRedis, tempDirs, testConfig, uniqueKey, type Redis } from "./helpers.js";

let redis: Redis;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

/** An API on a free port; `mongoUrl` defaults to a port where nothing listens. */
async function startApi(opts: { mongoUrl?: string; maxUploadMb?: number } = {}) {
  const dirs = await tempDirs();
  const mongoUrl = opts.mongoUrl ?? `mongodb://127.0.0.1:${await freePort()}`;
  const config = testConfig({
    redisUrl: redis.url,
    mongoUrl,
    mongoDb: `test_${process.pid}_${Date.now()}`,
    uploadsDir: dirs.uploads,
    resultsDir: dirs.results,
    maxUploadBytes: (opts.maxUploadMb ?? 2) * 1024 * 1024,
    queueKey: uniqueKey(),
  });
  const store = MongoJobStore.connect(config.mongoUrl, config.mongoDb, 300);
  const queue = JobQueue.connect(config.redisUrl, config.queueKey, () => {});
  await queue.ready();
  const app = await buildApp({ config, store, queue, logger: false });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as { port: number };
  return {
    base: `http://127.0.0.1:${port}`,
    config,
    dirs,
    queue,
    async close() {
      await app.close();
      await queue.close();
      await store.close();
      await dirs.cleanup();
    },
  };
}

function videoForm(bytes: number, type = "video/mp4", name = "clip.mp4") {
  const form = new FormData();
  form.append("video", new Blob([new Uint8Array(bytes).fill(7)], { type }), name);
  return form;
}

async function uploadsLeft(dir: string) {
  return readdir(dir).catch(() => [] as string[]);
}

test("health reports a MongoDB that is down, and Redis that is up: degraded jobs, still healthy", async () => {
  const api = await startApi();
  try {
    const res = await fetch(`${api.base}/health`);
    assert.equal(res.status, 200); // the live view needs only Redis
    const body = await res.json();
    assert.equal(body.status, "degraded");
    assert.equal(body.redis.ok, true);
    assert.equal(body.mongo.ok, false);
    assert.ok(body.mongo.error);
    assert.equal(body.degraded.length, 1);
    assert.match(body.degraded[0], /^jobs: MongoDB does not answer/);
  } finally {
    await api.close();
  }
});

test("uploads that are not videos are refused and leave nothing behind", async () => {
  const api = await startApi();
  try {
    const notMultipart = await fetch(`${api.base}/api/jobs`, { method: "POST", body: "hello" });
    assert.equal(notMultipart.status, 415);
    const text = await fetch(`${api.base}/api/jobs`, { method: "POST", body: videoForm(10, "text/plain", "a.txt") });
    assert.equal(text.status, 415);
    assert.match((await text.json()).error, /text\/plain is not a supported video/);
    assert.deepEqual(await uploadsLeft(api.dirs.uploads), []);
    assert.deepEqual(await api.queue.depth(), { waiting: 0, processing: 0 });
  } finally {
    await api.close();
  }
});

test("uploads over the size limit are refused with 413", async () => {
  const api = await startApi({ maxUploadMb: 1 });
  try {
    const res = await fetch(`${api.base}/api/jobs`, { method: "POST", body: videoForm(1024 * 1024 + 10) });
    assert.equal(res.status, 413);
    assert.match((await res.json()).error, /larger than MAX_UPLOAD_MB/);
    assert.deepEqual(await uploadsLeft(api.dirs.uploads), []);
  } finally {
    await api.close();
  }
});

test("a job that cannot be recorded is not queued and its upload is removed", async () => {
  const api = await startApi();
  try {
    const res = await fetch(`${api.base}/api/jobs`, { method: "POST", body: videoForm(1000) });
    assert.equal(res.status, 503);
    assert.match((await res.json()).error, /cannot queue the job/);
    assert.deepEqual(await uploadsLeft(api.dirs.uploads), []);
    assert.deepEqual(await api.queue.depth(), { waiting: 0, processing: 0 });
  } finally {
    await api.close();
  }
});

const mongoUrl = process.env.MONGO_URL;

test("upload → job in MongoDB and Redis → result served with ranges", { skip: !mongoUrl && "MONGO_URL is not set" }, async () => {
  const api = await startApi({ mongoUrl });
  const mongo = new MongoClient(mongoUrl!);
  try {
    assert.equal((await fetch(`${api.base}/health`)).status, 200);
    const res = await fetch(`${api.base}/api/jobs`, { method: "POST", body: videoForm(5000, "video/mp4", "my clip.mp4") });
    assert.equal(res.status, 201);
    const job = await res.json();
    assert.equal(job.state, "queued");
    assert.equal(job.size, 5000);
    assert.equal(job.upload, `${job._id}/my_clip.mp4`);
    assert.equal((await api.queue.waiting())[0].id, job._id);
    assert.deepEqual(await readdir(path.join(api.dirs.uploads, job._id)), ["my_clip.mp4"]);

    const noVideo = await fetch(`${api.base}/api/jobs/${job._id}/video`);
    assert.equal(noVideo.status, 409);

    // What the pose service does when it finishes.
    await mkdir(path.join(api.dirs.results, job._id), { recursive: true });
    await writeFile(path.join(api.dirs.results, job._id, "video.mp4"), Buffer.from("0123456789"));
    await mongo
      .db(api.config.mongoDb)
      .collection("jobs")
      .updateOne({ _id: job._id }, { $set: { state: "done", progress: 1, result: { video: `${job._id}/video.mp4` } } });

    const status = await (await fetch(`${api.base}/api/jobs/${job._id}`)).json();
    assert.equal(status.state, "done");
    const part = await fetch(`${api.base}/api/jobs/${job._id}/video`, { headers: { range: "bytes=2-5" } });
    assert.equal(part.status, 206);
    assert.equal(await part.text(), "2345");
    const list = await (await fetch(`${api.base}/api/jobs`)).json();
    assert.equal(list.jobs[0]._id, job._id);
    assert.equal((await fetch(`${api.base}/api/jobs/nope`)).status, 404);
  } finally {
    await mongo.db(api.config.mongoDb).dropDatabase().catch(() => {});
    await mongo.close();
    await api.close();
  }
});
