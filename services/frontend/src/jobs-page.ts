// The jobs page: pick a video, upload it, follow the job, play the rendered result.
import { createApi, uploadVideo, type Job } from "./api";
import { describe, followJob, formatBytes, validateFile } from "./jobs";

const MAX_UPLOAD_BYTES = Number(import.meta.env.VITE_MAX_UPLOAD_MB ?? 2048) * 1024 * 1024;

export function mountJobs(): void {
  const api = createApi();

  const $ = <T extends HTMLElement>(sel: string) => document.querySelector<T>(sel)!;
  const form = $<HTMLFormElement>("#upload");
  const input = $<HTMLInputElement>("#file");
  const status = $<HTMLParagraphElement>("#status");
  const bar = $<HTMLProgressElement>("#progress");
  const result = $<HTMLDivElement>("#result");
  const history = $<HTMLUListElement>("#jobs");

  function show(text: string, failed = false) {
    status.textContent = text;
    status.classList.toggle("error", failed);
}

  function showResult(job: Job) {
    result.replaceChildren();
    if (!job.result?.video) return;
    const video = document.createElement("video");
    video.controls = true;
    video.src = api.videoUrl(job._id);
    const link = document.createElement("a");
    link.href = api.trackletsUrl(job._id);
    link.textContent = "Download tracklets (.pkl)";
    result.append(video, link);
}

  async function refreshHistory() {
    try {
      const jobs = await api.listJobs(10);
      history.replaceChildren(
        ...jobs.map((job) => {
          const li = document.createElement("li");
          const button = document.createElement("button");
          button.type = "button";
          button.textContent = `${job.filename} (${formatBytes(job.size)}): ${describe(job).label}`;
          button.onclick = () => void follow(job._id);
          li.append(button);
          return li;
        }),
      );
    } catch (err) {
      history.replaceChildren();
      show(`Cannot list jobs: ${(err as Error).message}`, true);
    }
}

  let following: AbortController | undefined;

  async function follow(id: string) {
    following?.abort();
    const controller = new AbortController();
    following = controller;
    result.replaceChildren();
    try {
      const job = await followJob(
        api.getJob,
        id,
        (job) => {
          const view = describe(job);
          show(view.label, view.failed);
          bar.value = view.percent;
        },
        { signal: controller.signal },
      );
      showResult(job);
      void refreshHistory();
    } catch (err) {
      if (!controller.signal.aborted) show((err as Error).message, true);
    }
}

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const file = input.files?.[0];
    if (!file) return show("Choose a video first.", true);
    const invalid = validateFile(file, MAX_UPLOAD_BYTES);
    if (invalid) return show(invalid, true);
    show(`Uploading ${file.name}…`);
    try {
      const job = await uploadVideo(file, (f) => (bar.value = Math.round(f * 100)));
      bar.value = 0;
      void refreshHistory();
      await follow(job._id);
    } catch (err) {
      show((err as Error).message, true);
    }
  });

  void refreshHistory();
}
