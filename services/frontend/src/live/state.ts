// What the Live page tells the person, from the backend's status and from what reaches the
// page: which part is missing, and the command that shows why.

/** GET /api/live/status (backend-api src/live/status.ts), the fields the page reads. */
export interface LiveStatus {
  state: "starting" | "ok" | "no_redis" | "no_camera" | "no_pose";
  message: string;
  fix: string | null;
  camera: { flowing: boolean; fps: number | null; last_seq: number | null; source: string | null; publish_latency_ms: number | null };
  pose: { flowing: boolean; fps: number | null; last_seq: number | null; latency_ms: number | null; people: number | null };
}

export type ViewKind = "connecting" | "ok" | "no_frames" | "no_camera" | "no_pose";

export interface View {
  kind: ViewKind;
  title: string;
  detail: string;
  /** The commands, each shown as code. */
  fix: string[];
}

/** Status events come once a second: three missed mean the page is cut off. */
export const SILENCE_MS = 3000;

/** Commands in a backend message are written in backticks. */
export function commands(text: string | null): string[] {
  return [...(text ?? "").matchAll(/`([^`]+)`/g)].map((m) => m[1]);
}

export function view(status: LiveStatus | null, sinceLastEventMs: number | null, connected: boolean): View {
  if (!connected || sinceLastEventMs === null || sinceLastEventMs > SILENCE_MS) {
    if (sinceLastEventMs === null && connected) {
      return { kind: "connecting", title: "Connecting…", detail: "waiting for backend-api's live events", fix: [] };
    }
    return {
      kind: "no_frames",
      title: "No frames",
      detail: "the page gets nothing from backend-api (GET /api/live/events): it is down or restarting",
      fix: ["devstack ps", "devstack logs backend-api"],
    };
  }
  if (!status) return { kind: "connecting", title: "Connecting…", detail: "waiting for the first status", fix: [] };
  switch (status.state) {
    case "starting":
      return { kind: "connecting", title: "Connecting…", detail: status.message, fix: [] };
    case "no_redis":
      return { kind: "no_frames", title: "No frames", detail: status.message, fix: commands(status.fix) };
    case "no_camera":
      return { kind: "no_camera", title: "No camera", detail: status.message, fix: commands(status.fix) };
    case "no_pose":
      return { kind: "no_pose", title: "No pose service", detail: status.message, fix: commands(status.fix) };
    default:
      return { kind: "ok", title: "Live", detail: status.message, fix: [] };
  }
}

/** p-th percentile (0–100) of the values, nearest rank; null when empty. */
export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
