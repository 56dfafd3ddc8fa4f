// The loop page's live feed: run events and snapshots over the ws/training/ websocket, and polling the
// overview every 3 s while the socket is down or the channel layer is not shared.
(function (Loop) {
  "use strict";
  if (!Loop) return;

  var socket = null;
  var pollTimer = null;
  var liveEl = document.getElementById("live-state");

  function setLive(state, text) {
    if (!liveEl) return;
    liveEl.dataset.state = state;
    liveEl.textContent = text;
  }

  function takeSnapshot(snapshot) {
    Loop.overview = snapshot;
    Loop.adopt(snapshot.runs);
    Loop.render();
  }

  // Ask the open socket for a snapshot; false when it is not open.
  function askSocket() {
    if (!(socket && socket.readyState === WebSocket.OPEN)) return false;
    socket.send(JSON.stringify({ type: "refresh" }));
    return true;
  }

  function requestSnapshot() {
    if (!askSocket()) poll();
  }

  function poll() {
    Blink.fetchJSON(Loop.urls.overview)
      .then(function (r) { if (r.ok) takeSnapshot(r.body); })
      .catch(function () {});
  }

  function startPolling() {
    if (pollTimer) return;
    setLive("polling", "refreshing every 3 s");
    pollTimer = window.setInterval(poll, 3000);
  }

  function stopPolling() {
    if (pollTimer) window.clearInterval(pollTimer);
    pollTimer = null;
  }

  function connect(delay) {
    socket = new WebSocket(Blink.socketURL(Loop.urls.socket));
    socket.addEventListener("message", function (m) {
      var msg = JSON.parse(m.data);
      if (msg.type === "snapshot") {
        takeSnapshot(msg.overview);
        if (msg.live) { stopPolling(); setLive("live", "live"); } else startPolling();
      } else if (msg.type === "event" && msg.event) {
        Loop.applyEvent(msg.event);
        // A decision or a finished rescoring changes the live models and the queues: fetch them.
        if (["promoted", "kept", "rescored"].indexOf(msg.event.phase) >= 0) requestSnapshot();
      }
    });
    socket.addEventListener("close", function () {
      startPolling();
      var next = Math.min((delay || 1000) * 2, 15000);
      window.setTimeout(function () { connect(next); }, delay || 1000);
    });
  }

  function goLive() {
    connect(1000);
    // A safety net under the live feed: a fresh snapshot every 10 s (events from a worker on another machine only
    // arrive when the channel layer is shared, e.g. Redis).
    window.setInterval(askSocket, 10000);
  }

  Object.assign(Loop, { requestSnapshot: requestSnapshot, poll: poll, goLive: goLive });
})(window.BlinkLoop);
