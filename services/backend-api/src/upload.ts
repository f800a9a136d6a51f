// What an upload may be: a video by declared type and by extension.
import path from "node:path";

const VIDEO_TYPES: Record<string, string> = {
  "video/mp4": ".mp4",
  "video/quicktime": ".mov",
  "video/webm": ".webm",
  "video/x-matroska": ".mkv",
  "video/x-msvideo": ".avi",
};

export const ACCEPTED_TYPES = Object.keys(VIDEO_TYPES);

/** The reason an upload is refused, or null when it is acceptable. */
export function rejectReason(contentType: string, filename: string): string | null {
  const type = contentType.split(";")[0].trim().toLowerCase();
  if (!(type in VIDEO_TYPES)) {
    return `content type ${type || "(none)"} is not a supported video; send one of ${ACCEPTED_TYPES.join(", ")}`;
  }
  const ext = path.extname(filename).toLowerCase();
  if (ext && !Object.values(VIDEO_TYPES).includes(ext) && ext !== ".m4v") {
    return `file name ${filename} does not look like a video (${ext})`;
  }
  return null;
}

/** A file name safe to store: no directories, only portable characters, never empty. */
export function safeName(filename: string, contentType: string): string {
  const base = path.basename(filename.replace(/\\/g, "/"));
  const cleaned = base.replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^[._]+/, "").slice(-100);
  if (cleaned && path.extname(cleaned)) return cleaned;
  const type = contentType.split(";")[0].trim().toLowerCase();
  return `${cleaned || "video"}${VIDEO_TYPES[type] ?? ".mp4"}`;
}
