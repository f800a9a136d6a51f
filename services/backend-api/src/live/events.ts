// GET /api/live/events: Server-Sent Events, one stream per browser. Events:
//   frame   a newer frame exists (seq, capture time, sizes): fetch /api/live/frame.jpg?seq=…
//   pose    a pose result, matched to its frame by seq (`frame`: whether that frame is held)
//   status  once a second: GET /api/live/status's object
// Latest wins per client: while a client's socket is not draining, each kind of event keeps
// only its newest message (the older one is dropped and counted), so a slow or stalled reader
// holds at most three messages here, whatever the camera's rate.
import type { ServerResponse } from "node:http";

import type { LiveFeed, LiveFrame, LivePose } from "./feed.js";
import { liveStatus, type LiveStatus } from "./status.js";

type Kind = "frame" | "pose" | "status";

export class EventClient {
  private pending = new Map<Kind, string>();
  private waiting = false;
  readonly sent: Record<Kind, number> = { frame: 0, pose: 0, status: 0 };
  readonly dropped: Record<Kind, number> = { frame: 0, pose: 0, status: 0 };

  constructor(private readonly res: ServerResponse) {
    res.on("drain", () => {
      this.waiting = false;
      this.flush();
    });
  }

  push(kind: Kind, data: string): void {
    if (this.pending.has(kind)) this.dropped[kind]++;
    this.pending.set(kind, data);
    this.flush();
  }

  private flush(): void {
    const res = this.res;
    // write() says false once 16 KiB wait in this process; 'drain' comes when they reached
    // the kernel, and only then does the newest of each kind go out.
    while (this.pending.size && !this.waiting && !res.destroyed) {
      const [kind, data] = this.pending.entries().next().value as [Kind, string];
      this.pending.delete(kind);
      this.sent[kind]++;
      if (!res.write(`event: ${kind}\ndata: ${data}\n\n`)) this.waiting = true;
    }
  }
}

/** Every connected client's counters, for /api/live/status's `clients` and the tests. */
export class EventHub {
  readonly clients = new Set<EventClient>();
  private readonly responses = new Set<ServerResponse>();
  private timer: NodeJS.Timeout | undefined;
  private droppedByGone = 0;

  constructor(private readonly feed: LiveFeed) {}

  serve(res: ServerResponse): void {
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      "x-accel-buffering": "no", // nginx and friends: do not buffer a stream
    });
    res.socket?.setNoDelay(true);
    res.write("retry: 1000\n\n");
    const client = new EventClient(res);
    const onFrame = (f: LiveFrame) => client.push("frame", f.event);
    const onPose = (p: LivePose) => client.push("pose", p.event);
    const release = this.feed.watch();
    this.feed.on("frame", onFrame);
    this.feed.on("pose", onPose);
    this.clients.add(client);
    this.responses.add(res);
    this.ensureTimer();
    client.push("status", JSON.stringify(this.status()));
    const newest = this.feed.newest();
    if (newest) client.push("frame", newest.event);
    const pose = this.feed.pose();
    if (pose) client.push("pose", pose.event);
    res.on("close", () => {
      this.feed.off("frame", onFrame);
      this.feed.off("pose", onPose);
      release();
      this.clients.delete(client);
      this.responses.delete(res);
      this.droppedByGone += client.dropped.frame + client.dropped.pose + client.dropped.status;
      if (!this.clients.size) this.stopTimer();
    });
  }

  /** The feed's status with this hub's clients: how many, and the events dropped for them (since start). */
  status(): LiveStatus {
    let dropped = this.droppedByGone;
    for (const c of this.clients) dropped += c.dropped.frame + c.dropped.pose + c.dropped.status;
    return { ...liveStatus(this.feed), clients: { connected: this.clients.size, events_dropped: dropped } };
  }

  private ensureTimer(): void {
    this.timer ??= setInterval(() => {
      const data = JSON.stringify(this.status());
      for (const c of this.clients) c.push("status", data);
    }, 1000);
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Ends every stream: a server closing waits for its connections, and these never end. */
  close(): void {
    this.stopTimer();
    for (const res of this.responses) res.end();
  }
}
