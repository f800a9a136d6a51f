// The live routes. They need Redis only: MongoDB being down does not touch them.
//   GET /api/live/events            Server-Sent Events (events.ts)
//   GET /api/live/frame.jpg         the newest colour frame; ?seq=N that frame while it is held,
//                                   ?width=W downscaled, ?depth=1 the colourised depth image
//   GET /api/live/status            camera fps, pose fps, last seq, latencies, what is missing
import type { FastifyInstance, FastifyReply } from "fastify";

import type { LiveFeed, LiveFrame } from "./feed.js";
import { EventHub } from "./events.js";
import { ImageError, JpegCache } from "./images.js";

interface FrameQuery {
  seq?: string;
  width?: string;
  depth?: string;
}

class QueryError extends Error {}

function integer(raw: string | undefined, name: string, min: number, max: number): number | undefined {
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new QueryError(`?${name}=${raw} is not an integer from ${min} to ${max}`);
  }
  return value;
}

function flag(raw: string | undefined, name: string): boolean {
  if (raw === undefined || raw === "" || raw === "0" || raw === "false") return false;
  if (raw === "1" || raw === "true") return true;
  throw new QueryError(`?${name}=${raw} is not 1 or 0`);
}

export function registerLive(app: FastifyInstance, feed: LiveFeed): EventHub {
  const hub = new EventHub(feed);
  const jpegs = new JpegCache();
  app.addHook("preClose", async () => hub.close()); // before the server waits for connections

  app.get("/api/live/status", async () => hub.status());

  app.get("/api/live/events", (req, reply) => {
    reply.hijack(); // a stream of its own: Fastify neither serialises nor ends it
    hub.serve(reply.raw);
  });

  app.get<{ Querystring: FrameQuery }>("/api/live/frame.jpg", async (req, reply) => {
    let seq: number | undefined;
    let width: number | undefined;
    let depth: boolean;
    try {
      seq = integer(req.query.seq, "seq", 0, Number.MAX_SAFE_INTEGER);
      width = integer(req.query.width, "width", 16, 8192);
      depth = flag(req.query.depth, "depth");
    } catch (err) {
      return reply.code(400).send({ error: (err as Error).message });
    }
    const frame = seq === undefined ? await feed.fresh() : feed.frame(seq);
    if (!frame) return noFrame(reply, hub, seq);
    try {
      const image = depth ? { ...frame, depth: await feed.depthOf(frame) } : frame;
      const jpeg = await jpegs.get(image, { width, depth });
      return frameHeaders(reply, frame).type("image/jpeg").send(jpeg);
    } catch (err) {
      if (err instanceof ImageError) return reply.code(409).send({ error: err.message });
      throw err;
    }
  });

  return hub;
}

function frameHeaders(reply: FastifyReply, frame: LiveFrame): FastifyReply {
  return reply.headers({
    "cache-control": "no-store",
    "x-frame-seq": String(frame.seq),
    "x-frame-host-ts-ns": String(frame.hostTsNs),
    "x-frame-source": frame.source, // `synthetic` frames say so
    "x-frame-age-ms": String(Math.round(performance.now() - frame.seenAt)),
  });
}

function noFrame(reply: FastifyReply, hub: EventHub, seq: number | undefined): FastifyReply {
  const status = hub.status();
  if (seq !== undefined && status.camera.last_seq !== null) {
    return reply.code(404).send({
      error: `frame ${seq} is no longer held (the newest is ${status.camera.last_seq}); ask without ?seq for the newest`,
    });
  }
  return reply.code(503).send({ error: status.message, fix: status.fix, state: status.state });
}
