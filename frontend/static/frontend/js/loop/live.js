// The loop page's feed. With a channel layer shared between processes (Redis), run events and snapshots arrive
// over the ws/training/ websocket and the badge says "live". Without one (make run: daphne and the worker are
// separate processes, each with its own in-memory layer) no event of the worker can reach a socket, so the page
// follows the stored events of the run that is still changing, asking about once a second (each answer waits up
// to a second for the next event), and says so. The same is done while the socket is down.
(function (Loop) {
  "use strict";
  if (!Loop) return;

  var FOLLOWING_TEXT = "following the runs, updated every second";
  var OVERVIEW_EVERY_MS = 10000; // runs started elsewhere, live models and queues
  var WAIT_SECONDS = 1; // how long one request for stored events waits for the next one
  var RETRY_MS = 2000;
  // After a promotion the loop rescores and reorders, recorded on the same run: follow it that long at most.
  var FOLLOW_AFTER_END_MS = 120000;
  var shared = Loop.urls.liveLayer === "shared";

  var socket = null;
  var socketLive = false;
  var overviewTimer = null;
  var followTimer = null;
  var followBusy = false;
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
    kickFollow();
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

  // A decision, a retry or a finished rescoring changes the live models, the queues or the list of runs.
  function afterEvent(event) {
    if (["promoted", "kept", "rescored", "retried", "given_up"].indexOf(event.phase) >= 0) requestSnapshot();
  }

  // --- following the stored events

  function stillChanging(run) {
    if (!run || !run.events_url) return false;
    if (run.status === "queued" || run.status === "running") return true;
    if (!Loop.promoted(run) || run.done) return false;
    var last = run.lastNews || Date.parse(run.finished_at || "") || 0;
    return Date.now() - last < FOLLOW_AFTER_END_MS;
  }

  // The selected run while it still changes, else the newest one that does; null when none does.
  function runToFollow() {
    var ids = [Loop.selected].concat(Loop.order);
    for (var i = 0; i < ids.length; i++) {
      if (ids[i] !== null && stillChanging(Loop.runs[ids[i]])) return ids[i];
    }
    return null;
  }

  function following() {
    return !(shared && socketLive);
  }

  function scheduleFollow(ms) {
    if (followTimer) window.clearTimeout(followTimer);
    followTimer = window.setTimeout(follow, ms);
  }

  function kickFollow() {
    if (following() && !followBusy) scheduleFollow(0);
  }

  function follow() {
    followTimer = null;
    if (!following() || followBusy) return;
    var id = runToFollow();
    if (id === null) return; // nothing changes; a retrain or a snapshot starts following again
    var run = Loop.runs[id];
    followBusy = true;
    var url = run.events_url + "?after=" + (run.seq || 0) + "&wait=" + WAIT_SECONDS;
    Blink.fetchJSON(url)
      .then(function (r) {
        followBusy = false;
        if (!r.ok) { scheduleFollow(RETRY_MS); return; }
        var current = Loop.runs[id];
        if (current) {
          var fresh = (r.body.events || []).filter(function (e) { return Loop.applyEvent(e, { render: false }); });
          current.status = r.body.status;
          // One drawing per answer: each answer is one update the ML lead sees.
          if (fresh.length) Loop.render();
          fresh.forEach(afterEvent);
        }
        scheduleFollow(100);
      })
      .catch(function () {
        followBusy = false;
        scheduleFollow(RETRY_MS);
      });
  }

  function startFollowing() {
    setLive("following", FOLLOWING_TEXT);
    if (liveEl) liveEl.title = shared
      ? "The live connection is down: the page reads each run's stored events every second until it is back."
      : "No shared channel layer (REDIS_URL is not set): the page reads each run's stored events every second.";
    if (!overviewTimer) overviewTimer = window.setInterval(poll, OVERVIEW_EVERY_MS);
    kickFollow();
  }

  function stopFollowing() {
    if (overviewTimer) window.clearInterval(overviewTimer);
    overviewTimer = null;
    if (followTimer) window.clearTimeout(followTimer);
    followTimer = null;
  }

  // --- the websocket (shared channel layer only)

  function connect(delay) {
    socket = new WebSocket(Blink.socketURL(Loop.urls.socket));
    socket.addEventListener("message", function (m) {
      var msg = JSON.parse(m.data);
      if (msg.type === "snapshot") {
        socketLive = !!msg.live;
        takeSnapshot(msg.overview);
        if (socketLive) { stopFollowing(); setLive("live", "live"); if (liveEl) liveEl.title = ""; } else startFollowing();
      } else if (msg.type === "event" && msg.event) {
        if (Loop.applyEvent(msg.event)) afterEvent(msg.event);
      }
    });
    socket.addEventListener("close", function () {
      socketLive = false;
      startFollowing();
      var next = Math.min((delay || 1000) * 2, 15000);
      window.setTimeout(function () { connect(next); }, delay || 1000);
    });
  }

  function goLive() {
    if (!shared) {
      startFollowing();
      return;
    }
    connect(1000);
    // A safety net under the live feed: a fresh snapshot every 10 s.
    window.setInterval(askSocket, OVERVIEW_EVERY_MS);
  }

  Object.assign(Loop, { requestSnapshot: requestSnapshot, poll: poll, goLive: goLive, follow: kickFollow });
})(window.BlinkLoop);
