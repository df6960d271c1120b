// CrisisDesk console: the few things htmx does not do. No clinical data is kept in the browser.
"use strict";

// Timers count down on the page: each [data-countdown] shows the time left to its datetime.
function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[data-countdown]")) {
    const left = Math.round((Date.parse(el.getAttribute("datetime")) - now) / 1000);
    const sign = left < 0 ? "overdue " : "in ";
    const s = Math.abs(left);
    const text = s >= 3600
      ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
      : `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    el.textContent = sign + text;
    el.classList.toggle("overdue", left < 0);
  }
}
setInterval(tick, 1000);
document.addEventListener("DOMContentLoaded", tick);
document.addEventListener("htmx:afterSwap", tick);

// A stream says when the session ended (sign-out elsewhere, expiry) or when this page may no
// longer be shown (a break-glass grant ran out): the page goes with it.
document.addEventListener("htmx:sseOpen", (event) => {
  const source = event.detail && event.detail.source;
  if (!source || source.crisisdeskWatched) return;
  source.crisisdeskWatched = true;
  source.addEventListener("signed-out", () => window.location.assign("/signin"));
  source.addEventListener("reload", () => window.location.reload());
});

// A form being filled in is never redrawn under the clinician's hands: when the decisions on
// offer change meanwhile, a notice says so instead.
document.addEventListener("input", (event) => {
  const form = event.target.closest && event.target.closest("form[data-decision]");
  if (form) form.dataset.dirty = "true";
});
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  if (!target || target.id !== "decision-forms") return;
  if (target.querySelector("form[data-dirty], details[open]")) {
    event.detail.shouldSwap = false;
    const notice = document.getElementById("forms-changed");
    if (notice) notice.hidden = false;
  }
});

// After a decision the page is redrawn: focus moves to what it says (recorded, or refused), so
// a keyboard or screen-reader user hears it and carries on from there.
document.addEventListener("htmx:afterSwap", (event) => {
  if (!event.detail.target || event.detail.target.id !== "incident-body") return;
  const said = document.querySelector("#incident-body [data-recorded], #incident-body [role='alert']");
  if (said) {
    said.setAttribute("tabindex", "-1");
    said.focus();
  }
});
