// Live pages listen to their team's Server-Sent Events stream (apps/clusters/live.py) through
// htmx's SSE extension: a "changed" event makes #live ask for its fragment again, an ordinary
// htmx swap (so whatever keeps focus and scroll across swaps applies to it too). This file says
// whether the page is live or reconnecting, and asks once more for what may have been missed:
// after a reconnection, and when a hidden tab (whose requests live.js holds back) is shown again.
(function () {
  function say(stream, state, text) {
    const line = stream.querySelector("[data-live-state]");
    if (!line || line.dataset.liveState === state) return;
    line.dataset.liveState = state;
    line.textContent = text;
  }

  function resync() {
    const live = document.getElementById("live");
    if (live) htmx.trigger(live, "live:resync");
  }

  document.addEventListener("htmx:sseOpen", (event) => {
    const stream = event.target;
    const reopened = stream.dataset.liveOpened === "yes";
    stream.dataset.liveOpened = "yes";
    say(stream, "live", "Live: changes appear here as they happen.");
    if (reopened) resync();
  });

  document.addEventListener("htmx:sseError", (event) => {
    say(event.target, "reconnecting", "Reconnecting to live updates…");
  });

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") resync();
  });
})();
