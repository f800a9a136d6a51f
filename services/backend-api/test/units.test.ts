import assert from "node:assert/strict";
import { test } from "node:test";

import { parseRange } from "../src/app.js";
import { ConfigError, loadConfig } from "../src/config.js";
import { rejectReason, safeName } from "../src/upload.js";

test("config defaults and validation", () => {
  const c = loadConfig({});
  assert.equal(c.port, 3000);
  assert.equal(c.logLevel, "info");
  assert.equal(c.maxUploadBytes, 2048 * 1024 * 1024);
  assert.equal(loadConfig({ LOG_LEVEL: "WARNING" }).logLevel, "warn");
  assert.equal(loadConfig({ MAX_UPLOAD_MB: "5" }).maxUploadBytes, 5 * 1024 * 1024);
  assert.throws(() => loadConfig({ MAX_UPLOAD_MB: "lots" }), ConfigError);
  assert.throws(() => loadConfig({ LOG_LEVEL: "chatty" }), /LOG_LEVEL=chatty/);
});

test("only videos are accepted", () => {
  assert.equal(rejectReason("video/mp4", "a.mp4"), null);
  assert.equal(rejectReason("video/quicktime; codecs=x", "clip.MOV"), null);
  assert.match(rejectReason("text/plain", "a.mp4") ?? "", /text\/plain is not a supported video/);
  assert.match(rejectReason("video/mp4", "evil.exe") ?? "", /does not look like a video/);
});

test("stored names cannot escape the upload directory", () => {
  assert.equal(safeName("../../etc/passwd.mp4", "video/mp4"), "passwd.mp4");
  assert.equal(safeName("C:\\clips\\my clip (1).mov", "video/quicktime"), "my_clip_1_.mov");
  assert.equal(safeName("", "video/webm"), "video.webm");
  assert.equal(safeName("..", "video/mp4"), "video.mp4");
});

test("byte ranges for video seeking", () => {
  assert.deepEqual(parseRange("bytes=0-99", 1000), { start: 0, end: 99 });
  assert.deepEqual(parseRange("bytes=900-", 1000), { start: 900, end: 999 });
  assert.deepEqual(parseRange("bytes=-100", 1000), { start: 900, end: 999 });
  assert.deepEqual(parseRange("bytes=0-5000", 1000), { start: 0, end: 999 });
  assert.equal(parseRange("bytes=1000-", 1000), null);
  assert.equal(parseRange("items=0-1", 1000), null);
  assert.equal(parseRange(undefined, 1000), null);
});
