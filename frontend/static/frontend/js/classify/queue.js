/* Blink classify page: what comes next. A queue of about five subjects fetched ahead and preloaded; a subject
 * already voted on, queued, on screen or waiting in the outbox is never fetched again. The tab keeps the
 * candidate on screen and the queue, so a reload brings the same unanswered candidate back. */
(function (C) {
  "use strict";
  var cfg = C.cfg, state = C.state;

  var QUEUE_TARGET = 5;
  var REFILL_BELOW = 3;
  var MAX_REMEMBERED = 2000;
  var RESTORE_WITHIN_MS = 12 * 3600 * 1000;

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

  // A card as the server sent it: what the page added (preloaded images, the light curve's promise) stays out.
  function plainCard(subject) {
    var card = {};
    Object.keys(subject).forEach(function (k) { if (k.charAt(0) !== "_") card[k] = subject[k]; });
    return card;
  }

  // Kept after every change of what is on screen or queued, so a reload loses nothing: the unanswered
  // candidate comes back first, then the queue, in order.
  function saveQueue() {
    var cards = (state.current ? [state.current] : []).concat(state.queue).map(plainCard);
    C.writeJSON(window.sessionStorage, C.QUEUE_KEY, { at: Date.now(), cards: cards });
  }

  function restoreQueue() {
    var saved = C.readJSON(window.sessionStorage, C.QUEUE_KEY, null);
    if (!saved || !Array.isArray(saved.cards) || Date.now() - saved.at > RESTORE_WITHIN_MS) return;
    var pending = {};
    C.pendingHere().forEach(function (it) { pending[it.body.subject] = true; });
    saved.cards.forEach(function (card) {
      if (!card || !card.id || votedSet[card.id] || pending[card.id]) return;
      if (state.queue.some(function (q) { return q.id === card.id; })) return;
      state.queue.push(card);
      preload(card);
    });
  }

  // The next card to show: the first of the queue, unless it is another alert of the object just on screen
  // and a card of another object is waiting behind it (the server keeps a batch apart; two batches may meet).
  function takeNext(previous) {
    var at = 0;
    if (previous && state.queue.length > 1 && state.queue[0].object_id === previous.object_id) {
      var other = state.queue.findIndex(function (s) { return s.object_id !== previous.object_id; });
      if (other > 0) at = other;
    }
    return state.queue.splice(at, 1)[0] || null;
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
        saveQueue();
        if (C.prefetchExplanations) C.prefetchExplanations();
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
    state.current = takeNext(state.current);
    saveQueue();
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

  Object.assign(C, {
    rememberVoted: rememberVoted,
    stampSrc: stampSrc,
    preload: preload,
    restoreQueue: restoreQueue,
    showNext: showNext,
  });
})(window.BlinkClassify);
