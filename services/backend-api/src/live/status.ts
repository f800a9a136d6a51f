// What the live view knows right now, and when something is missing, which part and the
// command that shows why. The same object is GET /api/live/status and the `status` event.
import type { LiveFeed } from "./feed.js";

export type LiveState = "starting" | "ok" | "no_redis" | "no_camera" | "no_pose";

export interface LiveStatus {
  state: LiveState;
  /** One sentence for people: what is missing. */
  message: string;
  /** The command(s) that show why, or fix it. */
  fix: string | null;
  redis: { ok: boolean; error: string | null };
  camera: {
    stream: string;
    flowing: boolean;
    fps: number | null;
    last_seq: number | null;
    last_frame_age_ms: number | null;
    /** Capture (host clock) → XADD (Redis clock) of the newest frame. */
    publish_latency_ms: number | null;
    source: string | null;
    color: { format: string; width: number; height: number } | null;
    depth: { width: number; height: number } | null;
  };
  pose: {
    stream: string;
    flowing: boolean;
    fps: number | null;
    last_seq: number | null;
    last_result_age_ms: number | null;
    /** Capture → the pose service's publish of the newest result. */
    latency_ms: number | null;
    people: number | null;
  };
  clients: { connected: number; events_dropped: number };
}

/** A camera is "there" while frames keep coming; poses may come slower (1–2 fps on small GPUs). */
export const CAMERA_STALE_MS = 2000;
export const POSE_STALE_MS = 5000;
const REDIS_STUCK_MS = 3000;

const round = (v: number) => Math.round(v * 10) / 10;

export function liveStatus(feed: LiveFeed, now = performance.now()): LiveStatus {
  const frame = feed.newest();
  const pose = feed.pose();
  const frameAge = frame ? now - frame.seenAt : null;
  const poseAge = pose ? now - pose.seenAt : null;
  const stuck = now - feed.lastStepAt > REDIS_STUCK_MS ? `no answer for ${Math.round((now - feed.lastStepAt) / 1000)} s` : null;
  const redisError = feed.redisError ?? stuck;
  const cameraFlowing = !redisError && frameAge !== null && frameAge < CAMERA_STALE_MS;
  const poseFlowing = !redisError && poseAge !== null && poseAge < POSE_STALE_MS;
  const status: LiveStatus = {
    state: "ok",
    message: "frames and poses are flowing",
    fix: null,
    redis: { ok: !redisError, error: redisError },
    camera: {
      stream: feed.keys.frames,
      flowing: cameraFlowing,
      fps: cameraFlowing ? feed.cameraRate.perSecond() : 0,
      last_seq: frame?.seq ?? null,
      last_frame_age_ms: frameAge === null ? null : Math.round(frameAge),
      // Redis ids have millisecond resolution: a capture within the same ms reads as 0.
      publish_latency_ms: frame && frame.hostTsNs ? Math.max(0, round(frame.addedMs - frame.hostTsNs / 1e6)) : null,
      source: frame?.source ?? null,
      color: frame && frame.color ? { format: frame.colorFormat, width: frame.colorW, height: frame.colorH } : null,
      depth: frame && frame.depthW ? { width: frame.depthW, height: frame.depthH } : null,
    },
    pose: {
      stream: feed.keys.results,
      flowing: poseFlowing,
      fps: poseFlowing ? feed.poseRate.perSecond() : 0,
      last_seq: pose?.seq ?? null,
      last_result_age_ms: poseAge === null ? null : Math.round(poseAge),
      latency_ms: pose ? round(pose.latencyMs) : null,
      people: pose ? pose.people.length : null,
    },
    clients: { connected: feed.clients, events_dropped: 0 },
  };
  if (!feed.primed && !feed.redisError) {
    return Object.assign(status, { state: "starting", message: "reading the live streams", fix: null });
  }
  return Object.assign(status, diagnose(status, frameAge, poseAge));
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function diagnose(s: LiveStatus, frameAge: number | null, poseAge: number | null): Pick<LiveStatus, "state" | "message" | "fix"> {
  if (!s.redis.ok) {
    return {
      state: "no_redis",
      message: `backend-api cannot read the live streams from Redis: ${s.redis.error}`,
      fix: "`devstack ps` shows whether redis is up; `devstack logs backend-api` says why it cannot connect",
    };
  }
  if (!s.camera.flowing) {
    return {
      state: "no_camera",
      message:
        frameAge === null
          ? `no camera: nothing was ever published to ${s.camera.stream}`
          : `no camera: the last frame (seq ${s.camera.last_seq}) came ${seconds(frameAge)} ago`,
      fix: "`devstack doctor` checks the camera (USB 3, udev rules, libk4a); `devstack logs kinect` says why the capture stopped",
    };
  }
  if (!s.pose.flowing) {
    return {
      state: "no_pose",
      message:
        poseAge === null
          ? `no pose service: no results in ${s.pose.stream} (frames are flowing)`
          : `no pose service: the last result (seq ${s.pose.last_seq}) came ${seconds(poseAge)} ago`,
      fix: "`devstack logs pose` shows whether the models are loaded; live poses need POSE_MODE=kinect (or both) in .env",
    };
  }
  return { state: "ok", message: "frames and poses are flowing", fix: null };
}
