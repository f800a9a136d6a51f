// The API client against a real HTTP server speaking like backend-api.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { afterAll, beforeAll, expect, it } from "vitest";

import { ApiError, createApi } from "../src/api";

let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    if (req.url === "/api/jobs/j%201") {
      res.end(JSON.stringify({ _id: "j 1", state: "running", progress: 0.2 }));
    } else if (req.url === "/api/jobs?limit=5") {
      res.end(JSON.stringify({ jobs: [{ _id: "a" }, { _id: "b" }] }));
    } else if (req.url === "/api/jobs/broken") {
      res.statusCode = 502;
      res.setHeader("content-type", "text/html");
      res.end("<h1>Bad gateway</h1>");
    } else {
      res.statusCode = 404;
      res.end(JSON.stringify({ error: `no job ${req.url}` }));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

it("reads jobs and escapes ids", async () => {
  const api = createApi(base);
  expect((await api.getJob("j 1")).progress).toBe(0.2);
  expect((await api.listJobs(5)).map((j) => j._id)).toEqual(["a", "b"]);
  expect(api.videoUrl("j 1")).toBe(`${base}/api/jobs/j%201/video`);
});

it("turns error answers into ApiError with the server's reason", async () => {
  const api = createApi(base);
  const err = await api.getJob("nope").catch((e) => e);
  expect(err).toBeInstanceOf(ApiError);
  expect(err.status).toBe(404);
  expect(err.message).toBe("404: no job /api/jobs/nope");
  await expect(api.getJob("broken")).rejects.toThrow("502: <h1>Bad gateway</h1>");
});
