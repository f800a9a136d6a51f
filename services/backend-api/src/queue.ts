// The job queue in Redis: a list the pose service pops from (LPUSH here, BLMOVE there, so a
// job being processed survives a pose-service restart in `<key>:processing`).
import { createClient } from "redis";

export interface QueuedJob {
  id: string;
  upload: string;
  createdAt: string;
}

export class JobQueue {
  private constructor(
    private readonly client: ReturnType<typeof createClient>,
    readonly key: string,
    private readonly connected: Promise<unknown>,
  ) {}

  /** Connects in the background and keeps reconnecting; commands fail fast while down. */
  static connect(url: string, key: string, onError: (err: Error) => void): JobQueue {
    const client = createClient({
      url,
      disableOfflineQueue: true,
      socket: { connectTimeout: 3000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000) },
    });
    client.on("error", onError);
    const connected = client.connect();
    connected.catch(onError);
    return new JobQueue(client, key, connected);
  }

  /** Resolves once the first connection is up (rejects if it fails). */
  async ready(): Promise<void> {
    await this.connected;
  }

  async enqueue(job: QueuedJob): Promise<void> {
    await this.client.lPush(this.key, JSON.stringify(job));
  }

  /** Jobs waiting and jobs being processed. */
  async depth(): Promise<{ waiting: number; processing: number }> {
    const [waiting, processing] = await Promise.all([
      this.client.lLen(this.key),
      this.client.lLen(`${this.key}:processing`),
    ]);
    return { waiting, processing };
  }

  /** Jobs waiting, oldest first. */
  async waiting(): Promise<QueuedJob[]> {
    const raw = await this.client.lRange(this.key, 0, -1);
    return raw.reverse().map((s) => JSON.parse(s) as QueuedJob);
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    if (this.client.isReady) await this.client.quit();
    else if (this.client.isOpen) await this.client.disconnect(); // still reconnecting

  }
}
