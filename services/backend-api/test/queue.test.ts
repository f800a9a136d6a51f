// The Redis queue against a real redis-server.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { JobQueue } from "../src/queue.js";
import { freePort, startRedis, uniqueKey, type Redis } from "./helpers.js";

let redis: Redis;
before(async () => {
  redis = await startRedis();
});
after(() => redis.stop());

test("jobs come out oldest first and are counted", async () => {
  const queue = JobQueue.connect(redis.url, uniqueKey(), () => {});
  try {
    await queue.ready();
    await queue.ping();
    await queue.enqueue({ id: "a", upload: "a/x.mp4", createdAt: "2026-01-01T00:00:00Z" });
    await queue.enqueue({ id: "b", upload: "b/y.mp4", createdAt: "2026-01-01T00:00:01Z" });
    assert.deepEqual((await queue.waiting()).map((j) => j.id), ["a", "b"]);
    assert.deepEqual(await queue.depth(), { waiting: 2, processing: 0 });
  } finally {
    await queue.close();
  }
});

test("a Redis that is down fails fast instead of hanging", async () => {
  const port = await freePort();
  const queue = JobQueue.connect(`redis://127.0.0.1:${port}`, uniqueKey(), () => {});
  const started = Date.now();
  await assert.rejects(queue.enqueue({ id: "c", upload: "c/z.mp4", createdAt: "" }));
  assert.ok(Date.now() - started < 2000, "enqueue waited for a dead Redis");
  await queue.close();
});
