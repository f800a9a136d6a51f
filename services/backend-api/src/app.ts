// HTTP routes: upload a video (→ uploads volume, job document, queue), read jobs, serve
// results, and a health check that asks MongoDB and Redis.
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rm, stat } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";

import multipart from "@fastify/multipart";
import Fastify, { FastifyInstance, FastifyReply, FastifyServerOptions } from "fastify";

import type { Config } from "./config.js";
import type { Job, JobStore } from "./jobs.js";
import type { LiveFeed } from "./live/feed.js";
import { registerLive } from "./live/routes.js";
import type { JobQueue } from "./queue.js";
import { rejectReason, safeName } from "./upload.js";

export interface Deps {
  config: Config;
  store: JobStore;
  queue: JobQueue;
  /** The live view's feed (Redis only); without it the /api/live routes are absent. */
  live?: LiveFeed;
  logger?: FastifyServerOptions["logger"];
}

class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

async function probe(check: () => Promise<void>, timeoutMs: number) {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { ok: true, ms: Math.round(performance.now() - started) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

/** `bytes=START-END` → inclusive byte range within `size`, or null when absent/unsatisfiable. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header ?? "");
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start <= end && start < size ? { start, end } : null;
}

/** Resolves `rel` inside `root`, refusing paths that escape it. */
function inside(root: string, rel: string): string {
  const full = path.resolve(root, rel);
  if (!full.startsWith(path.resolve(root) + path.sep)) throw new HttpError(400, `bad result path ${rel}`);
  return full;
}

async function sendFile(reply: FastifyReply, file: string, type: string, range?: string) {
  const size = (await stat(file)).size;
  reply.header("accept-ranges", "bytes").type(type);
  const r = range ? parseRange(range, size) : null;
  if (range && !r) {
    return reply.code(416).header("content-range", `bytes */${size}`).send();
  }
  if (r) {
    reply.code(206).header("content-range", `bytes ${r.start}-${r.end}/${size}`);
    reply.header("content-length", r.end - r.start + 1);
    return reply.send(createReadStream(file, r));
  }
  reply.header("content-length", size);
  return reply.send(createReadStream(file));
}

export async function buildApp({ config, store, queue, live, logger }: Deps): Promise<FastifyInstance> {
  const app = Fastify({ logger: logger ?? { level: config.logLevel }, bodyLimit: 1024 * 1024 });
  await app.register(multipart, { limits: { fileSize: config.maxUploadBytes, files: 1, fields: 10 } });

  app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
    const status = err.statusCode ?? 500;
    if (status >= 500) req.log.error({ err }, "request failed");
    else req.log.info({ status, reason: err.message }, "request refused");
    reply.code(status).send({ error: err.message });
  });

  const getJob = async (id: string): Promise<Job> => {
    const job = await store.get(id);
    if (!job) throw new HttpError(404, `no job ${id}`);
    return job;
  };

  // 200 while Redis answers: the live view needs nothing else, so MongoDB being down degrades
  // the jobs (said in `degraded`) without making the container unhealthy.
  app.get("/health", async (_req, reply) => {
    const [mongo, redis] = await Promise.all([probe(() => store.ping(), 2000), probe(() => queue.ping(), 2000)]);
    const degraded: string[] = [];
    if (!redis.ok) degraded.push(`jobs and live view: Redis does not answer (${redis.error})`);
    if (!mongo.ok) {
      degraded.push(`jobs: MongoDB does not answer (${mongo.error}); uploads and the job list fail, the live view works`);
    }
    return reply
      .code(redis.ok ? 200 : 503)
      .send({ status: degraded.length ? "degraded" : "ok", degraded, mongo, redis });
  });

  if (live) registerLive(app, live);

  app.post("/api/jobs", async (req, reply) => {
    if (!req.isMultipart()) {
      throw new HttpError(415, "send the video as multipart/form-data (field `video`)");
    }
    const part = await req.file();
    if (!part) throw new HttpError(400, "no file in the upload; send the video in the field `video`");
    const refused = rejectReason(part.mimetype, part.filename);
    if (refused) {
      part.file.resume();
      throw new HttpError(415, refused);
    }
    const id = randomUUID();
    const name = safeName(part.filename, part.mimetype);
    const dir = path.join(config.uploadsDir, id);
    await mkdir(dir, { recursive: true });
    try {
      await pipeline(part.file, createWriteStream(path.join(dir, name)));
      if (part.file.truncated) {
        throw new HttpError(413, `the video is larger than MAX_UPLOAD_MB (${config.maxUploadBytes / 1048576} MiB)`);
      }
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err; // 413 from the multipart size limit, or an I/O error
    }
    const size = (await stat(path.join(dir, name))).size;
    const now = new Date();
    const job: Job = {
      _id: id,
      state: "queued",
      progress: 0,
      stage: "queued",
      filename: part.filename,
      contentType: part.mimetype,
      size,
      upload: `${id}/${name}`,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await store.create(job);
      try {
        await queue.enqueue({ id, upload: job.upload, createdAt: now.toISOString() });
      } catch (err) {
        await store.remove(id);
        throw err;
      }
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      req.log.error({ err, job: id }, "cannot record the job");
      throw new HttpError(503, `cannot queue the job: ${(err as Error).message}`);
    }
    req.log.info({ job: id, size, filename: part.filename }, "job queued");
    return reply.code(201).header("location", `/api/jobs/${id}`).send(job);
  });

  app.get<{ Querystring: { limit?: string } }>("/api/jobs", async (req) => {
    const limit = Math.min(Math.max(Number(req.query.limit ?? 20) || 20, 1), 200);
    return { jobs: await store.list(limit) };
  });

  app.get<{ Params: { id: string } }>("/api/jobs/:id", (req) => getJob(req.params.id));

  app.get<{ Params: { id: string } }>("/api/jobs/:id/video", async (req, reply) => {
    const job = await getJob(req.params.id);
    if (!job.result?.video) throw new HttpError(409, `job ${job._id} has no rendered video yet (state ${job.state})`);
    return sendFile(reply, inside(config.resultsDir, job.result.video), "video/mp4", req.headers.range);
  });

  app.get<{ Params: { id: string } }>("/api/jobs/:id/tracklets", async (req, reply) => {
    const job = await getJob(req.params.id);
    if (!job.result?.tracklets) throw new HttpError(409, `job ${job._id} has no tracklets yet (state ${job.state})`);
    reply.header("content-disposition", `attachment; filename="${job._id}.pkl"`);
    return sendFile(reply, inside(config.resultsDir, job.result.tracklets), "application/octet-stream");
  });

  return app;
}
