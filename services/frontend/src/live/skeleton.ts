// People drawn over the frame: the 25 OpenPose BODY_25 joints HMR 2.0 puts first in its 44
// (the other 19 are SMPL/H36M extras the picture does not need), the bones between them, and
// each person's id and detection score. Coordinates are the colour image's pixels.

export interface Person {
  id?: number;
  score?: number;
  bbox?: number[];
  keypoints_2d?: number[][];
}

export const JOINTS = [
  "nose", "neck", "right shoulder", "right elbow", "right wrist", "left shoulder", "left elbow",
  "left wrist", "mid hip", "right hip", "right knee", "right ankle", "left hip", "left knee",
  "left ankle", "right eye", "left eye", "right ear", "left ear", "left big toe", "left small toe",
  "left heel", "right big toe", "right small toe", "right heel",
] as const;

/** BODY_25's limbs, as OpenPose draws them. */
export const BONES: ReadonlyArray<readonly [number, number]> = [
  [1, 8], [1, 2], [1, 5], [2, 3], [3, 4], [5, 6], [6, 7], [8, 9], [9, 10], [10, 11], [8, 12],
  [12, 13], [13, 14], [1, 0], [0, 15], [15, 17], [0, 16], [16, 18], [14, 19], [19, 20], [14, 21],
  [11, 22], [22, 23], [11, 24],
];

/** Saturated colours that a camera picture rarely has; a person keeps theirs by id. */
export const PALETTE = ["#00e5ff", "#ff2bd6", "#ffe600", "#39ff14", "#ff7b00", "#8f7dff"];

export const JOINT_RADIUS = 5;

export function colourOf(id: number | undefined): string {
  const n = id ?? 0;
  return PALETTE[((n % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

/** What a 2D canvas context offers that drawing needs (tests pass a recorder). */
export type Pen = Pick<
  CanvasRenderingContext2D,
  | "beginPath" | "moveTo" | "lineTo" | "stroke" | "arc" | "fill" | "fillText" | "fillRect" | "save" | "restore"
  | "setLineDash" | "measureText"
> & {
  strokeStyle: CanvasRenderingContext2D["strokeStyle"];
  fillStyle: CanvasRenderingContext2D["fillStyle"];
  lineWidth: number;
  globalAlpha: number;
  font: string;
};

function usable(p: number[] | undefined): p is number[] {
  return Array.isArray(p) && p.length >= 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]);
}

/** `stale`: the poses belong to an earlier frame than the one shown (drawn dashed, fainter). */
export function drawPeople(pen: Pen, people: Person[], stale = false): void {
  pen.save();
  pen.globalAlpha = stale ? 0.55 : 1;
  pen.setLineDash(stale ? [8, 6] : []);
  for (const person of people) {
    const kp = (person.keypoints_2d ?? []).slice(0, JOINTS.length);
    const colour = colourOf(person.id);
    pen.strokeStyle = colour;
    pen.fillStyle = colour;
    pen.lineWidth = 3;
    for (const [a, b] of BONES) {
      if (!usable(kp[a]) || !usable(kp[b])) continue;
      pen.beginPath();
      pen.moveTo(kp[a][0], kp[a][1]);
      pen.lineTo(kp[b][0], kp[b][1]);
      pen.stroke();
    }
    for (const p of kp) {
      if (!usable(p)) continue;
      pen.beginPath();
      pen.arc(p[0], p[1], JOINT_RADIUS, 0, 2 * Math.PI);
      pen.fill();
    }
    label(pen, person, kp, colour);
  }
  pen.restore();
}

function label(pen: Pen, person: Person, kp: number[][], colour: string): void {
  const anchor = person.bbox && person.bbox.length >= 2 ? [person.bbox[0], person.bbox[1]] : kp.find(usable);
  if (!anchor) return;
  const text = `#${person.id ?? "?"}${person.score !== undefined ? ` ${person.score.toFixed(2)}` : ""}`;
  pen.font = "bold 18px system-ui, sans-serif";
  const w = pen.measureText(text).width + 10;
  const y = Math.max(0, anchor[1] - 26);
  pen.fillStyle = "rgba(0, 0, 0, 0.65)";
  pen.fillRect(anchor[0], y, w, 24);
  pen.fillStyle = colour;
  pen.fillText(text, anchor[0] + 5, y + 18);
}
