// Live pages: polling rules, and keeping the reader's place when fresh content is swapped in.
//
// Polling. Live pages poll with htmx ("every 5s"). A poll is skipped while the tab is hidden
// (data-poll-while="visible") and, with "idle", while someone is typing in a form inside it, so
// that the swap does not throw their input away. This used to be an hx-trigger filter
// ([document.visibilityState === 'visible']), which htmx runs through eval: the
// Content-Security-Policy refuses eval.
document.addEventListener("htmx:beforeRequest", (event) => {
  const elt = event.detail.elt;
  const rule = elt.getAttribute("data-poll-while");
  if (!rule) return;
  const hidden = rule.split(" ").includes("visible") && document.visibilityState !== "visible";
  const typing = rule.split(" ").includes("idle") && elt.querySelector("form :focus") !== null;
  if (hidden || typing) event.preventDefault();
});

// Keeping the reader's place. A swap replaces the live region with new elements: the focused
// link is gone (htmx refocuses only an element with an id), a table scrolled sideways starts
// again at its left edge, a closed section opens again, and what the reader was looking at
// moves when something new appears above it. So the place is written down as it changes
// (focus, scrolling, opening) and again just before a swap, and put back after every swap,
// finding elements by what they are (an id, a link's address and text, a row's pod) rather
// than where they are. It listens to htmx's own swap events, which every transport raises
// (polling, server-sent events, out-of-band swaps, htmx.swap), so it holds whatever brings the
// content.
(() => {
  // What an element is, in words that survive a re-render; null for what cannot be found again.
  function keyOf(el) {
    if (!el || !el.tagName || el === document.body || el === document.documentElement) return null;
    const tag = el.tagName.toLowerCase();
    if (el.id) return `#${el.id}`;
    for (const name of ["pod", "workload", "team", "rule"]) {
      if (el.dataset && el.dataset[name]) return `${tag}|data-${name}|${el.dataset[name]}`;
    }
    const text = (el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 80);
    if (tag === "a" && el.hasAttribute("href")) return `a|${el.getAttribute("href")}|${text}`;
    const form = el.form ? el.form.getAttribute("action") || "" : "";
    if (tag === "button") return `button|${form}|${el.name || ""}|${el.value || ""}|${text}`;
    if (tag === "input" || tag === "select" || tag === "textarea") return `${tag}|${form}|${el.name || ""}`;
    if (tag === "summary" && el.parentElement) return `summary|${keyOf(el.parentElement) || text}`;
    const label = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby");
    if (label) return `${tag}|label|${label}`;
    return null;
  }

  function find(key) {
    if (!key) return null;
    if (key.startsWith("#")) return document.getElementById(key.slice(1));
    for (const el of document.querySelectorAll(key.split("|", 1)[0])) {
      if (keyOf(el) === key) return el;
    }
    return null;
  }

  // The nearest element that can be found again, from el outwards.
  function keyed(el) {
    for (let up = el; up; up = up.parentElement) {
      if (keyOf(up)) return up;
    }
    return null;
  }

  const place = { focus: null, anchor: null, boxes: new Map(), open: new Map() };

  // What is at the top of the screen (under a sticky header), and where: the anchor the page is
  // held by, so that new content above it does not push it away.
  function rememberAnchor() {
    const header = document.querySelector(".topbar");
    const below = header && getComputedStyle(header).position === "sticky" ? header.getBoundingClientRect().bottom : 0;
    const el = keyed(document.elementFromPoint(window.innerWidth / 2, Math.max(below, 0) + 8));
    place.anchor = el && el !== document.querySelector("main") ? { key: keyOf(el), top: el.getBoundingClientRect().top } : null;
  }

  function rememberBox(el) {
    const key = keyOf(el);
    if (!key) return;
    if (el.scrollLeft || el.scrollTop) place.boxes.set(key, [el.scrollLeft, el.scrollTop]);
    else place.boxes.delete(key);
  }

  function remember() {
    // Nothing focused now means the reader left it (a click on the background): not ours to take back.
    const active = document.activeElement;
    place.focus = active && active !== document.body ? keyOf(active) : null;
    for (const el of document.querySelectorAll(".table-scroll, pre[tabindex]")) rememberBox(el);
    for (const el of document.querySelectorAll("details")) {
      const key = keyOf(el);
      if (key) place.open.set(key, el.open);
    }
    rememberAnchor();
  }

  function restore() {
    for (const [key, open] of place.open) {
      const el = find(key);
      if (el && el.tagName === "DETAILS" && el.open !== open) el.open = open;
    }
    for (const [key, [left, top]] of place.boxes) {
      const el = find(key);
      if (el) {
        el.scrollLeft = left;
        el.scrollTop = top;
      }
    }
    const active = document.activeElement;
    if ((!active || active === document.body) && place.focus) {
      const el = find(place.focus);
      if (el) el.focus({ preventScroll: true });
    }
    if (place.anchor) {
      const el = find(place.anchor.key);
      const moved = el ? el.getBoundingClientRect().top - place.anchor.top : 0;
      if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
    }
  }

  document.addEventListener("focusin", (event) => {
    place.focus = keyOf(event.target);
  });
  document.addEventListener("toggle", (event) => {
    const key = keyOf(event.target);
    if (key) place.open.set(key, event.target.open);
  }, true);
  let pending = false;
  document.addEventListener("scroll", (event) => {
    if (event.target instanceof Element) rememberBox(event.target);
    if (!pending) {
      pending = true;
      requestAnimationFrame(() => {
        pending = false;
        rememberAnchor();
      });
    }
  }, { capture: true, passive: true });
  window.addEventListener("load", rememberAnchor);
  // Just before a swap, where the transport says so (requests, server-sent events, out of band).
  for (const name of ["htmx:beforeSwap", "htmx:oobBeforeSwap", "htmx:sseBeforeMessage"]) {
    document.addEventListener(name, remember);
  }
  // After every swap, whatever brought it.
  for (const name of ["htmx:afterSwap", "htmx:oobAfterSwap"]) {
    document.addEventListener(name, restore);
  }
})();
