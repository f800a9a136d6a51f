// The Live page (/live): the newest camera frame with the people the pose service found, the
// rates and latencies, and when something is missing, what and the command that shows why.
import { Player } from "./player";
import { percentile, view, type View } from "./state";

declare global {
  interface Window {
    /** For benchmarks (bench/live): what this page measured. */
    devstackLive?: { latencies: () => number[]; painted: () => number };
  }
}

function element<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text = "") {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}

const STATS = [
  ["camera", "camera fps"],
  ["pose", "pose fps"],
  ["shown", "shown fps"],
  ["latency", "capture → screen"],
  ["pose-latency", "capture → poses"],
  ["people", "people"],
  ["source", "source"],
] as const;

export function mountLive(root: HTMLElement): Player {
  const banner = element("div", { id: "live-banner", class: "banner", role: "status", hidden: "" });
  const stage = element("div", { class: "live-stage" });
  const canvas = element("canvas", { id: "live-canvas", width: "1280", height: "720" });
  stage.append(canvas);
  const stats = element("dl", { id: "live-stats" });
  const values = new Map<string, HTMLElement>();
  for (const [key, label] of STATS) {
    const dd = element("dd", { "data-stat": key }, "–");
    values.set(key, dd);
    stats.append(element("dt", {}, label), dd);
  }
  root.replaceChildren(banner, stage, stats);

  const player = new Player(canvas);
  player.start();
  window.devstackLive = { latencies: () => [...player.latencies], painted: () => player.painted };
  let shownView: View | undefined;
  setInterval(() => {
    const since = player.lastEventAt === null ? null : performance.timeOrigin + performance.now() - player.lastEventAt;
    const v = view(player.status, since, player.connected);
    if (!shownView || v.kind !== shownView.kind || v.detail !== shownView.detail) showBanner(banner, v);
    shownView = v;
    stage.classList.toggle("stale", v.kind === "no_frames" || v.kind === "no_camera");
    updateStats(values, player);
  }, 250);
  return player;
}

function showBanner(banner: HTMLElement, v: View): void {
  banner.hidden = v.kind === "ok";
  banner.dataset.state = v.kind;
  const parts: Node[] = [element("strong", {}, v.title), document.createTextNode(` ${v.detail}`)];
  if (v.fix.length) {
    parts.push(document.createTextNode(" — try "));
    v.fix.forEach((cmd, i) => {
      if (i) parts.push(document.createTextNode(", "));
      parts.push(element("code", {}, cmd));
    });
  }
  banner.replaceChildren(...parts);
}

const ms = (v: number | null) => (v === null ? "–" : `${Math.round(v)} ms`);
const num = (v: number | null | undefined) => (v === null || v === undefined ? "–" : String(v));

function updateStats(values: Map<string, HTMLElement>, player: Player): void {
  const s = player.status;
  const recent = player.latencies.slice(-60);
  const people = player.people();
  const set = (key: string, text: string) => {
    const el = values.get(key)!;
    if (el.textContent !== text) el.textContent = text;
  };
  set("camera", num(s?.camera.fps));
  set("pose", num(s?.pose.fps));
  set("shown", String(player.fps()));
  set("latency", recent.length ? `${ms(percentile(recent, 50))} (p95 ${ms(percentile(recent, 95))})` : "–");
  set("pose-latency", ms(s?.pose.latency_ms ?? null));
  const who = people?.pose.people.map((p) => `#${p.id ?? "?"}${p.score !== undefined ? ` (${p.score.toFixed(2)})` : ""}`);
  const list = people ? who!.join(", ") || "nobody" : "–";
  set("people", people?.stale ? `${list} (${people.lag} frames earlier)` : list);
  set("source", s?.camera.source === "synthetic" ? "synthetic frames (no camera)" : (s?.camera.source ?? "–"));
}
