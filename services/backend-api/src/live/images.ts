// Frames as JPEG for browsers: the camera's own MJPG passes through untouched; other colour
// formats, a smaller `width`, and the colourised depth preview are encoded with sharp
// (libvips). The last few encodings are kept, so many clients asking for the same frame cost
// one encoding.
import sharp from "sharp";

import type { FrameEntry } from "./entries.js";

export class ImageError extends Error {}

export interface JpegRequest {
  width?: number;
  depth?: boolean;
}

/** Near red → far blue over the NFOV/WFOV working range; 0 (no return) stays black. */
const NEAR_MM = 500;
const FAR_MM = 5500;

function ramp(t: number): [number, number, number] {
  // A perceptually even-ish rainbow (red → yellow → green → cyan → blue) by hue.
  const h = t * 240;
  const x = 1 - Math.abs(((h / 60) % 2) - 1);
  const [r, g, b] =
    h < 60 ? [1, x, 0] : h < 120 ? [x, 1, 0] : h < 180 ? [0, 1, x] : h < 240 ? [0, x, 1] : [0, 0, 1];
  return [Math.round(r * 255), Math.round(g * 255), Math.round(b * 255)];
}

const DEPTH_LUT = (() => {
  const lut = new Uint8Array(1024 * 3);
  for (let i = 0; i < 1024; i++) lut.set(ramp(i / 1023), i * 3);
  return lut;
})();

/** DEPTH16 (little-endian millimetres) → RGB. */
export function colouriseDepth(depth: Buffer, width: number, height: number): Buffer {
  const out = Buffer.alloc(width * height * 3);
  const span = FAR_MM - NEAR_MM;
  for (let i = 0, o = 0; i < width * height; i++, o += 3) {
    const mm = depth[2 * i] | (depth[2 * i + 1] << 8);
    if (mm === 0) continue;
    const k = Math.min(1023, Math.max(0, Math.round(((mm - NEAR_MM) * 1023) / span))) * 3;
    out[o] = DEPTH_LUT[k];
    out[o + 1] = DEPTH_LUT[k + 1];
    out[o + 2] = DEPTH_LUT[k + 2];
  }
  return out;
}

/** NV12 (Y plane, then interleaved UV at half resolution) → RGB, BT.601 limited range. */
export function nv12ToRgb(data: Buffer, width: number, height: number): Buffer {
  if (data.length < (width * height * 3) / 2) {
    throw new ImageError(`nv12 colour has ${data.length} bytes, expected ${(width * height * 3) / 2}`);
  }
  const out = Buffer.alloc(width * height * 3);
  const uv = width * height;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const c = data[y * width + x] - 16;
      const at = uv + (y >> 1) * width + (x & ~1);
      const d = data[at] - 128;
      const e = data[at + 1] - 128;
      const o = (y * width + x) * 3;
      out[o] = clamp((298 * c + 409 * e + 128) >> 8);
      out[o + 1] = clamp((298 * c - 100 * d - 208 * e + 128) >> 8);
      out[o + 2] = clamp((298 * c + 516 * d + 128) >> 8);
    }
  }
  return out;
}

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** BGRA → RGB. */
export function bgraToRgb(data: Buffer, width: number, height: number): Buffer {
  if (data.length !== width * height * 4) {
    throw new ImageError(`bgra32 colour has ${data.length} bytes, expected ${width * height * 4}`);
  }
  const out = Buffer.alloc(width * height * 3);
  for (let i = 0, o = 0; o < out.length; i += 4, o += 3) {
    out[o] = data[i + 2];
    out[o + 1] = data[i + 1];
    out[o + 2] = data[i];
  }
  return out;
}

function source(frame: FrameEntry, depth: boolean): sharp.Sharp {
  if (depth) {
    if (!frame.depth) {
      throw new ImageError(
        frame.depthW
          ? `frame ${frame.seq}'s depth image is no longer in the stream; ask for the newest`
          : "this frame has no depth image (the capture runs with --depth-mode off)",
      );
    }
    const raw = { width: frame.depthW, height: frame.depthH, channels: 3 as const };
    return sharp(colouriseDepth(frame.depth, frame.depthW, frame.depthH), { raw });
  }
  if (!frame.color) throw new ImageError("this frame has no colour image (the capture runs with --color off)");
  const raw = { width: frame.colorW, height: frame.colorH, channels: 3 as const };
  switch (frame.colorFormat) {
    case "mjpg":
      return sharp(frame.color);
    case "bgra32":
      return sharp(bgraToRgb(frame.color, frame.colorW, frame.colorH), { raw });
    case "nv12":
      return sharp(nv12ToRgb(frame.color, frame.colorW, frame.colorH), { raw });
    default:
      throw new ImageError(`unknown colour format ${frame.colorFormat}`);
  }
}

export async function toJpeg(frame: FrameEntry, req: JpegRequest): Promise<Buffer> {
  const nativeWidth = req.depth ? frame.depthW : frame.colorW;
  const resize = req.width !== undefined && req.width < nativeWidth;
  if (!req.depth && frame.colorFormat === "mjpg" && frame.color && !resize) return frame.color;
  let img = source(frame, Boolean(req.depth));
  if (resize) img = img.resize({ width: req.width });
  return img.jpeg({ quality: 80 }).toBuffer();
}

/** The last few encodings, by frame, size and kind. */
export class JpegCache {
  private entries = new Map<string, Promise<Buffer>>();

  constructor(private readonly size = 8) {}

  get(frame: FrameEntry, req: JpegRequest): Promise<Buffer> {
    const key = `${frame.hostTsNs}:${frame.seq}:${req.width ?? ""}:${req.depth ? 1 : 0}`;
    let jpeg = this.entries.get(key);
    if (!jpeg) {
      jpeg = toJpeg(frame, req);
      jpeg.catch(() => this.entries.delete(key));
      this.entries.set(key, jpeg);
      if (this.entries.size > this.size) this.entries.delete(this.entries.keys().next().value as string);
    }
    return jpeg;
  }
}
