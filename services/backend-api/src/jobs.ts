// Job documents in MongoDB. The pose service updates state/progress/result of the same
// documents (collection `jobs`); this module only creates and reads them.
import { Collection, MongoClient } from "mongodb";

export type JobState = "queued" | "running" | "done" | "failed";

export interface JobResult {
  /** Browser-playable H.264 mp4, relative to the results directory. */
  video?: string;
  /** PHALP tracklets (joblib pickle), relative to the results directory. */
  tracklets?: string;
  frames?: number;
  people?: number;
}

export interface Job {
  _id: string;
  state: JobState;
  progress: number;
  stage: string;
  filename: string;
  contentType: string;
  size: number;
  /** Uploaded file, relative to the uploads directory. */
  upload: string;
  createdAt: Date;
  updatedAt: Date;
  error?: string;
  result?: JobResult;
}

export interface JobStore {
  create(job: Job): Promise<void>;
  get(id: string): Promise<Job | null>;
  list(limit: number): Promise<Job[]>;
  remove(id: string): Promise<void>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class MongoJobStore implements JobStore {
  private readonly jobs: Collection<Job>;

  constructor(
    private readonly client: MongoClient,
    dbName: string,
  ) {
    this.jobs = client.db(dbName).collection<Job>("jobs");
  }

  static connect(url: string, dbName: string, timeoutMs = 5000): MongoJobStore {
    // The driver connects lazily and reconnects by itself; failures surface per operation.
    const client = new MongoClient(url, { serverSelectionTimeoutMS: timeoutMs });
    return new MongoJobStore(client, dbName);
  }

  async create(job: Job): Promise<void> {
    await this.jobs.insertOne(job);
  }

  get(id: string): Promise<Job | null> {
    return this.jobs.findOne({ _id: id });
  }

  list(limit: number): Promise<Job[]> {
    return this.jobs.find().sort({ createdAt: -1 }).limit(limit).toArray();
  }

  async remove(id: string): Promise<void> {
    await this.jobs.deleteOne({ _id: id });
  }

  async ping(): Promise<void> {
    await this.client.db("admin").command({ ping: 1 });
  }

  close(): Promise<void> {
    return this.client.close();
  }
}
