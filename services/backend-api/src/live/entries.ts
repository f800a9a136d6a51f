// The two Redis streams of the live view, as their writers lay them out.
//
// `kinect:frames` (devstack's host capture, src/kinect/resp.rs): one entry per capture with the
// fields seq, device_ts_usec, host_ts_ns (wall clock of the capture host, ns), source (`k4a`,
// `synthetic`, `replay`), depth_w, depth_h, color_format (`mjpg`, `nv12`, `bgra32`, `off`),
// color_w, color_h, depth (DEPTH16 little-endian, rows packed; empty when off) and color (the
// image bytes; empty when off).
//
// `pose:kinect:results` (pose-service, pose_service/kinect.py `publish`): one entry per
// estimated frame: seq (the frame's), host_ts_ns (the frame's), source, color_w, color_h,
// latency_ms (capture → this publish) and people (JSON list; each person has id, score, bbox
// and keypoints_2d in the colour image's pixels, keypoints_3d, cam_t, betas).

/** A raw stream entry as Redis returns it with returnBuffers: [id, [field, value, …]]. */
export type RawEntry = [Buffer, Buffer[]];

/** The newest frames entry after ARGV[1] (an XREVRANGE end: `-` or `(id`), as XREVRANGE
 * returns it but without the depth image: four fifths of a capture's bytes, which only
 * `?depth=1` needs (read then by id). Runs in Redis, so they never cross the socket. */
export const NEWEST_WITHOUT_DEPTH = `
local e = redis.call('XREVRANGE', KEYS[1], '+', ARGV[1], 'COUNT', 1)
if #e == 0 then return e end
local fields = {}
local f = e[1][2]
for i = 1, #f, 2 do
  if f[i] ~= 'depth' then
    fields[#fields + 1] = f[i]
    fields[#fields + 1] = f[i + 1]
  end
end
return {{e[1][1], fields}}`;

export class EntryError extends Error {}

export interface FrameEntry {
  /** The stream entry's id, to read its depth image later (see NEWEST_WITHOUT_DEPTH). */
  id: string;
  seq: number;
  hostTsNs: number;
  deviceTsUsec: number;
  source: string;
  /** Redis's clock when the entry was added (ms), from its id. */
  addedMs: number;
  colorFormat: string;
  colorW: number;
  colorH: number;
  depthW: number;
  depthH: number;
  color: Buffer | null;
  depth: Buffer | null;
}

export interface PoseEntry {
  seq: number;
  hostTsNs: number;
  addedMs: number;
  source: string;
  colorW: number;
  colorH: number;
  latencyMs: number;
  people: unknown[];
}

export function entryId(entry: RawEntry): string {
  return entry[0].toString();
}

function fields(entry: RawEntry): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const flat = entry[1];
  for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i].toString(), flat[i + 1]);
  return out;
}

function num(f: Map<string, Buffer>, name: string, fallback?: number): number {
  const raw = f.get(name);
  if (raw === undefined || raw.length === 0) {
    if (fallback !== undefined) return fallback;
    throw new EntryError(`the entry has no \`${name}\` field`);
  }
  const value = Number(raw.toString());
  if (!Number.isFinite(value)) throw new EntryError(`field \`${name}\` is not a number: ${raw.toString().slice(0, 20)}`);
  return value;
}

function text(f: Map<string, Buffer>, name: string, fallback: string): string {
  const raw = f.get(name);
  return raw && raw.length ? raw.toString() : fallback;
}

function addedMs(entry: RawEntry): number {
  return Number(entryId(entry).split("-")[0]);
}

export function parseFrame(entry: RawEntry): FrameEntry {
  const f = fields(entry);
  const color = f.get("color");
  const depth = f.get("depth");
  const frame: FrameEntry = {
    id: entryId(entry),
    seq: num(f, "seq"),
    hostTsNs: num(f, "host_ts_ns", 0),
    deviceTsUsec: num(f, "device_ts_usec", 0),
    source: text(f, "source", "k4a"),
    addedMs: addedMs(entry),
    colorFormat: text(f, "color_format", "off").toLowerCase(),
    colorW: num(f, "color_w", 0),
    colorH: num(f, "color_h", 0),
    depthW: num(f, "depth_w", 0),
    depthH: num(f, "depth_h", 0),
    color: color && color.length ? color : null,
    depth: depth && depth.length ? depth : null,
  };
  if (frame.depth && frame.depth.length !== frame.depthW * frame.depthH * 2) {
    throw new EntryError(
      `depth has ${frame.depth.length} bytes, expected ${frame.depthW}x${frame.depthH}x2 = ${frame.depthW * frame.depthH * 2}`,
    );
  }
  return frame;
}

export function parsePose(entry: RawEntry): PoseEntry {
  const f = fields(entry);
  let people: unknown;
  try {
    people = JSON.parse(text(f, "people", "[]"));
  } catch (err) {
    throw new EntryError(`field \`people\` is not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(people)) throw new EntryError("field `people` is not a JSON list");
  return {
    seq: num(f, "seq"),
    hostTsNs: num(f, "host_ts_ns", 0),
    addedMs: addedMs(entry),
    source: text(f, "source", "k4a"),
    colorW: num(f, "color_w", 0),
    colorH: num(f, "color_h", 0),
    latencyMs: num(f, "latency_ms", 0),
    people,
  };
}
