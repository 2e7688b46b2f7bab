// Live pages poll with htmx ("every 5s"). A poll is skipped while the tab is hidden
// (data-poll-while="visible") and, with "idle", while someone is typing in a form inside it,
// so that the swap does not throw their input away. This used to be an hx-trigger filter
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
