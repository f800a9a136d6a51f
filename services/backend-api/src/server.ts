// Entry point: config → MongoDB + Redis clients → HTTP server; clean shutdown on signals.
import { buildApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { MongoJobStore } from "./jobs.js";
import { LiveFeed, redisLink } from "./live/feed.js";
import { JobQueue } from "./queue.js";

async function main() {
  const config = loadConfig();
  const store = MongoJobStore.connect(config.mongoUrl, config.mongoDb);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  let lastRedisError = "";
  const queue = JobQueue.connect(config.redisUrl, config.queueKey, (err) => {
    // Reconnects repeat the same error; log it once per change.
    if (err.message !== lastRedisError) app?.log.warn({ err: err.message }, "redis unavailable");
    lastRedisError = err.message;
  });
  let lastLiveError = "";
  const link = redisLink(config.redisUrl, (err) => {
    if (err.message !== lastLiveError) app?.log.warn({ err: err.message }, "live feed: redis unavailable");
    lastLiveError = err.message;
  });
  let lastBadEntry = "";
  const live = new LiveFeed(link, { frames: config.kinectStream, results: config.kinectResultsStream }, (stream, err) => {
    // A writer with a wrong format repeats it on every entry: say it once per change.
    if (`${stream}${err.message}` !== lastBadEntry) app?.log.warn({ stream, err: err.message }, "live feed: skipped malformed entries");
    lastBadEntry = `${stream}${err.message}`;
  });
  app = await buildApp({ config, store, queue, live });
  live.start();
  const stop = async (signal: string) => {
    app?.log.info({ signal }, "shutting down");
    await app?.close();
    await Promise.allSettled([queue.close(), store.close(), live.close()]);
    process.exit(0);
  };
  process.once("SIGTERM", () => void stop("SIGTERM"));
  process.once("SIGINT", () => void stop("SIGINT"));
  await app.listen({ port: config.port, host: config.host });
  app.log.info({ uploads: config.uploadsDir, maxUploadBytes: config.maxUploadBytes }, "backend-api ready");
}

main().catch((err) => {
  const message = err instanceof ConfigError ? err.message : (err as Error).stack;
  console.error(JSON.stringify({ level: 60, time: Date.now(), msg: `backend-api cannot start: ${message}` }));
  process.exit(1);
});
