// Settings from the environment, validated once at start so a typo fails loudly.

export interface Config {
  port: number;
  host: string;
  logLevel: string;
  redisUrl: string;
  mongoUrl: string;
  mongoDb: string;
  uploadsDir: string;
  resultsDir: string;
  maxUploadBytes: number;
  queueKey: string;
  /** The host capture's frames and the pose service's live results (the live view). */
  kinectStream: string;
  kinectResultsStream: string;
}

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError(`${name}=${raw} is not an integer >= ${min}; fix it in .env`);
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // "warning" is what Python and Redis call it; pino says "warn".
  const level = (env.LOG_LEVEL ?? "info").toLowerCase().replace(/^warning$/, "warn");
  if (!LEVELS.includes(level)) {
    throw new ConfigError(`LOG_LEVEL=${env.LOG_LEVEL} is not one of ${LEVELS.join(", ")}`);
  }
  return {
    port: integer(env, "PORT", 3000, 0),
    host: env.HOST ?? "0.0.0.0",
    logLevel: level,
    redisUrl: env.REDIS_URL ?? "redis://127.0.0.1:6379/0",
    mongoUrl: env.MONGO_URL ?? "mongodb://127.0.0.1:27017",
    mongoDb: env.MONGO_DB ?? "devstack",
    uploadsDir: env.UPLOADS_DIR ?? "/data/uploads",
    resultsDir: env.RESULTS_DIR ?? "/data/results",
    maxUploadBytes: integer(env, "MAX_UPLOAD_MB", 2048, 1) * 1024 * 1024,
    queueKey: env.POSE_QUEUE ?? "pose:jobs",
    kinectStream: env.KINECT_STREAM || "kinect:frames",
    kinectResultsStream: env.KINECT_RESULTS_STREAM || "pose:kinect:results",
  };
}
