/* Blink classify page: what comes next. A queue of about five subjects fetched ahead and preloaded; a subject
 * already voted on, queued, on screen or waiting in the outbox is never fetched again. */
(function (C) {
  "use strict";
  var cfg = C.cfg, state = C.state;

  var QUEUE_TARGET = 5;
  var REFILL_BELOW = 3;
  var MAX_REMEMBERED = 2000;

  var votedSet = {};
  state.voted.forEach(function (id) { votedSet[id] = true; });

  function rememberVoted(id) {
    if (votedSet[id]) return;
    votedSet[id] = true;
    state.voted.push(id);
    if (state.voted.length > MAX_REMEMBERED) {
      var dropped = state.voted.splice(0, state.voted.length - MAX_REMEMBERED);
      dropped.forEach(function (d) { delete votedSet[d]; });
    }
    C.writeJSON(window.localStorage, C.VOTED_KEY, state.voted);
  }

  function knownIds() {
    var ids = {};
    state.queue.forEach(function (s) { ids[s.id] = true; });
    if (state.current) ids[state.current.id] = true;
    C.pendingHere().forEach(function (it) { ids[it.body.subject] = true; });
    // The server already excludes stored votes; the most recent ones may still be on their way.
    state.voted.slice(-200).forEach(function (id) { ids[id] = true; });
    return Object.keys(ids).slice(0, 450);
  }

  function stampSrc(subject, kind, stretch) {
    return subject.stamps[kind] + "?stretch=" + (stretch || state.stretch);
  }

  function preload(subject) {
    subject._images = subject._images || {};
    ["science", "template", "difference"].forEach(function (kind) {
      var src = stampSrc(subject, kind);
      if (subject._images[src]) return;
      var img = new Image();
      img.decoding = "async";
      img.src = src;
      subject._images[src] = img; // keep a reference until shown, so the browser keeps it
    });
    if (!subject._lc && subject.light_curve_url) {
      subject._lc = Blink.fetchJSON(subject.light_curve_url)
        .then(function (r) { return r.ok ? r.body : null; })
        .catch(function () { return null; });
    }
  }

  function refill() {
    if (state.fetching) return state.fetching;
    var need = QUEUE_TARGET - state.queue.length;
    if (need <= 0) return Promise.resolve();
    var url = cfg.api.next + "?n=" + need + "&exclude=" + knownIds().join(",");
    state.fetching = Blink.fetchJSON(url)
      .then(function (r) {
        if (!r.ok) {
          var err = new Error((r.body && r.body.detail) || "the server answered " + r.status);
          err.status = r.status;
          throw err;
        }
        return r.body;
      })
      .then(function (data) {
        state.fetchFailures = 0;
        var fresh = (data.subjects || []).filter(function (s) {
          if (votedSet[s.id]) return false;
          if (state.current && state.current.id === s.id) return false;
          return !state.queue.some(function (q) { return q.id === s.id; });
        });
        fresh.forEach(function (s) { state.queue.push(s); preload(s); });
        state.exhausted = !data.subjects || data.subjects.length === 0;
      })
      .catch(function (err) {
        state.fetchFailures += 1;
        if (err && (err.status === 403 || err.status === 404)) {
          state.exhausted = true;
          C.say(err.message, "bad");
        }
      })
      .then(function () { state.fetching = null; });
    return state.fetching;
  }

  function showNext() {
    state.current = state.queue.shift() || null;
    if (state.current) {
      C.render(state.current);
      if (state.queue.length < REFILL_BELOW) refill();
      return;
    }
    C.setPageState("loading");
    refill().then(function () {
      if (state.current) return;
      if (state.queue.length) {
        showNext();
      } else if (state.exhausted && !C.pendingHere().length) {
        C.setPageState("empty");
        C.$("#empty-state").hidden = false;
      } else {
        // A fetch failed, or votes are still on their way: try again shortly, calmly.
        var wait = Math.min(10000, 1000 * Math.pow(2, Math.min(state.fetchFailures, 4)));
        if (state.fetchFailures) C.say("Waiting for the server… retrying.", "quiet");
        setTimeout(showNext, state.exhausted ? 2000 : wait);
      }
    });
  }

  Object.assign(C, { rememberVoted: rememberVoted, stampSrc: stampSrc, preload: preload, showNext: showNext });
})(window.BlinkClassify);
