import { describe as suite, expect, it } from "vitest";

import type { Job } from "../src/api";
import { describe, followJob, formatBytes, validateFile } from "../src/jobs";

const job = (over: Partial<Job>): Job => ({
  _id: "j1",
  state: "queued",
  progress: 0,
  stage: "queued",
  filename: "a.mp4",
  size: 1,
  createdAt: "",
  updatedAt: "",
  ...over,
});

suite("validateFile", () => {
  it("accepts videos within the limit", () => {
    expect(validateFile({ name: "a.mp4", type: "video/mp4", size: 10 }, 100)).toBeNull();
  });
  it("refuses other types, empty and oversized files with the reason", () => {
    expect(validateFile({ name: "a.txt", type: "text/plain", size: 10 }, 100)).toMatch(/not a supported video \(text\/plain\)/);
    expect(validateFile({ name: "a.mp4", type: "video/mp4", size: 0 }, 100)).toMatch(/empty/);
    expect(validateFile({ name: "a.mp4", type: "video/mp4", size: 3 * 1024 * 1024 }, 1024 * 1024)).toBe(
      "a.mp4 is 3.0 MB, more than the 1.0 MB limit",
    );
  });
});

suite("describe", () => {
  it("reads every state", () => {
    expect(describe(job({ state: "queued" })).label).toBe("Waiting for the pose service");
    expect(describe(job({ state: "running", progress: 0.456, stage: "tracking" }))).toEqual({
      label: "tracking (46%)",
      percent: 46,
      finished: false,
      failed: false,
    });
    expect(describe(job({ state: "done", progress: 1, result: { people: 2 } })).label).toBe("Done, 2 people tracked");
    const failed = describe(job({ state: "failed", error: "no GPU" }));
    expect(failed.label).toBe("Failed: no GPU");
    expect(failed.finished && failed.failed).toBe(true);
  });
  it("clamps progress", () => {
    expect(describe(job({ state: "running", progress: 7 })).percent).toBe(100);
  });
});

it("formats sizes", () => {
  expect(formatBytes(512)).toBe("512 B");
  expect(formatBytes(1536)).toBe("1.5 KB");
});

suite("followJob", () => {
  it("reports each change once and stops when the job finishes, riding out errors", async () => {
    const answers: Array<Job | Error> = [
      job({ state: "queued" }),
      new Error("backend restarting"),
      job({ state: "queued" }),
      job({ state: "running", progress: 0.5, stage: "tracking" }),
      job({ state: "done", progress: 1 }),
    ];
    const seen: string[] = [];
    const final = await followJob(
      async () => {
        const next = answers.shift()!;
        if (next instanceof Error) throw next;
        return next;
      },
      "j1",
      (j) => seen.push(`${j.state}:${j.progress}`),
      { intervalMs: 1 },
    );
    expect(final.state).toBe("done");
    expect(seen).toEqual(["queued:0", "running:0.5", "done:1"]);
  });
  it("gives up after repeated errors", async () => {
    const fail = async (): Promise<Job> => {
      throw new Error("down");
    };
    await expect(followJob(fail, "j1", () => {}, { intervalMs: 1, maxErrors: 3 })).rejects.toThrow("down");
  });
});
