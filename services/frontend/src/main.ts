// Two pages on one dev server: the jobs (/) and the live view (/live). Each is loaded only
// where it is shown.
import "./style.css";

const live = location.pathname.replace(/\/+$/, "") === "/live";
document.querySelector<HTMLElement>(live ? "#live-page" : "#jobs-page")!.hidden = false;
document.querySelector(`nav a[data-page="${live ? "live" : "jobs"}"]`)?.setAttribute("aria-current", "page");

if (live) {
  void import("./live/page").then(({ mountLive }) => mountLive(document.querySelector("#live-page")!));
} else {
  void import("./jobs-page").then(({ mountJobs }) => mountJobs());
}
