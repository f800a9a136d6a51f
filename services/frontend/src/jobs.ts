// Job logic without the DOM: what may be uploaded, how a job reads, following it to the end.
import type { Job } from "./api";

export const VIDEO_TYPES = ["video/mp4", "video/quicktime", "video/webm", "video/x-matroska", "video/x-msvideo"];

/** Why this file cannot be uploaded, or null. */
export function validateFile(file: { name: string; type: string; size: number }, maxBytes: number): string | null {
  if (!VIDEO_TYPES.includes(file.type)) {
    return `${file.name} is not a supported video (${file.type || "unknown type"}); use MP4, MOV, WebM, MKV or AVI`;
  }
  if (file.size === 0) return `${file.name} is empty`;
  if (file.size > maxBytes) {
    return `${file.name} is ${formatBytes(file.size)}, more than the ${formatBytes(maxBytes)} limit`;
  }
  return null;
}

export function formatBytes(n: number): string {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

export interface JobView {
  label: string;
  percent: number;
  finished: boolean;
  failed: boolean;
}

export function describe(job: Job): JobView {
  const percent = Math.round(Math.min(Math.max(job.progress ?? 0, 0), 1) * 100);
  switch (job.state) {
    case "queued":
      return { label: "Waiting for the pose service", percent: 0, finished: false, failed: false };
    case "running":
      return { label: `${job.stage || "Processing"} (${percent}%)`, percent, finished: false, failed: false };
    case "done": {
      const people = job.result?.people;
      const who = people === undefined ? "" : `, ${people} ${people === 1 ? "person" : "people"} tracked`;
      return { label: `Done${who}`, percent: 100, finished: true, failed: false };
    }
    case "failed":
      return { label: `Failed: ${job.error ?? "unknown error"}`, percent, finished: true, failed: true };
    default:
      return { label: `Unknown state ${String(job.state)}`, percent, finished: false, failed: false };
  }
}

/**
 * Polls `getJob` until the job finishes, calling `onUpdate` on every change. Transient
 * errors (backend restarting) are retried; `signal` stops it.
 */
export async function followJob(
  getJob: (id: string) => Promise<Job>,
  id: string,
  onUpdate: (job: Job) => void,
  opts: { intervalMs?: number; maxErrors?: number; signal?: AbortSignal } = {},
): Promise<Job> {
  const { intervalMs = 1000, maxErrors = 10, signal } = opts;
  let errors = 0;
  let last = "";
  for (;;) {
    if (signal?.aborted) throw new Error("stopped following the job");
    try {
      const job = await getJob(id);
      errors = 0;
      const key = `${job.state}:${job.progress}:${job.stage}`;
      if (key !== last) onUpdate(job);
      last = key;
      if (describe(job).finished) return job;
    } catch (err) {
      if (++errors >= maxErrors) throw err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
