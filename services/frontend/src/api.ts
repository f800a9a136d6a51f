// Calls to backend-api (proxied under /api by the Vite dev server).

export type JobState = "queued" | "running" | "done" | "failed";

export interface Job {
  _id: string;
  state: JobState;
  progress: number;
  stage: string;
  filename: string;
  size: number;
  createdAt: string;
  updatedAt: string;
  error?: string;
  result?: { video?: string; tracklets?: string; frames?: number; people?: number };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function json<T>(res: Response): Promise<T> {
  const body = await res.text();
  let parsed: unknown;
  try {
    parsed = body ? JSON.parse(body) : undefined;
  } catch {
    parsed = undefined;
  }
  if (!res.ok) {
    const reason = (parsed as { error?: string } | undefined)?.error ?? (body.slice(0, 200) || res.statusText);
    throw new ApiError(res.status, `${res.status}: ${reason}`);
  }
  return parsed as T;
}

export interface Api {
  getJob(id: string): Promise<Job>;
  listJobs(limit?: number): Promise<Job[]>;
  videoUrl(id: string): string;
  trackletsUrl(id: string): string;
}

export function createApi(base = "", fetchFn: typeof fetch = fetch): Api {
  return {
    getJob: async (id) => json<Job>(await fetchFn(`${base}/api/jobs/${encodeURIComponent(id)}`)),
    listJobs: async (limit = 20) => (await json<{ jobs: Job[] }>(await fetchFn(`${base}/api/jobs?limit=${limit}`))).jobs,
    videoUrl: (id) => `${base}/api/jobs/${encodeURIComponent(id)}/video`,
    trackletsUrl: (id) => `${base}/api/jobs/${encodeURIComponent(id)}/tracklets`,
  };
}

/** Uploads with progress (fetch cannot report upload progress; XMLHttpRequest can). */
export function uploadVideo(file: File, onProgress: (fraction: number) => void, base = ""): Promise<Job> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `${base}/api/jobs`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onerror = () => reject(new ApiError(0, "the upload failed: is backend-api running?"));
    xhr.onload = () => {
      json<Job>(new Response(xhr.responseText, { status: xhr.status })).then(resolve, reject);
    };
    const form = new FormData();
    form.append("video", file, file.name);
    xhr.send(form);
  });
}
