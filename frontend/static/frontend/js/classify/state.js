/* Blink classify page: the configuration, state and small helpers its scripts share.
 *
 * No waiting: a local queue of about five subjects is fetched ahead (refilled in the background when it runs
 * low) and their stamps preloaded, so a vote shows the next candidate at once. Votes go to BlinkOutbox
 * (outbox.js), which sends them in the background and retries failures; the page never waits for the server.
 * A subject is never shown twice: the page remembers what it sent votes for (the server excludes what it has
 * stored; the page also excludes what is still waiting in the outbox or in its own queue).
 *
 * The page is plain scripts loaded in order (no bundler), each adding its part to window.BlinkClassify:
 * state.js (this), queue.js (what comes next), stamps.js (the triptych), subject.js (one subject's details),
 * answers.js (votes and counters), guide.js (tutorial, field guide, help), page.js (keys, buttons, start).
 * A module calls another's functions through the namespace, at call time, so the order only matters for start.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("classify-config").textContent);
  window.BLINK_CSRF = cfg.csrf;

  var STRETCHES = ["linear", "log", "asinh"];
  var STRETCH_KEY = "blink.stretch";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function readJSON(storage, key, fallback) {
    try {
      var v = JSON.parse(storage.getItem(key));
      return v === null ? fallback : v;
    } catch (e) {
      return fallback;
    }
  }
  function writeJSON(storage, key, value) {
    try { storage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: memory is enough */ }
  }

  var answers = {};
  var answerByKey = {};
  cfg.answers.forEach(function (a) {
    answers[a.key] = a;
    if (a.shortcut) answerByKey[a.shortcut] = a.key;
  });

  var VOTED_KEY = "blink.voted." + cfg.slug;
  // The candidate on screen and the queue behind it, per tab (sessionStorage): a reload shows them again.
  var QUEUE_KEY = "blink.queue." + cfg.slug;
  var state = {
    queue: [],
    current: null,
    answer: null,
    shownAt: 0,
    fetching: null,
    exhausted: false,
    fetchFailures: 0,
    voted: readJSON(window.localStorage, VOTED_KEY, []),
    stretch: STRETCHES.indexOf(readJSON(window.localStorage, STRETCH_KEY, "linear")) >= 0
      ? readJSON(window.localStorage, STRETCH_KEY, "linear") : "linear",
    zoom: 1,
    panX: 0,
    panY: 0,
    overlay: null,
    serverCount: cfg.stats.classifications,
    liveCount: cfg.progress.classifications,
    lcToken: 0,
    lcViews: null,
    lcScale: null, // the light-curve scale the viewer chose (flux or mag); null: each survey's default
  };

  var root = $("#classify");
  var feedback = $("#feedback");

  function setPageState(name) { root.setAttribute("data-state", name); }
  function say(text, tone) {
    feedback.textContent = text || "";
    feedback.className = "feedback" + (tone ? " feedback-" + tone : "");
  }

  // This campaign's votes still waiting in the outbox (the outbox holds every campaign's).
  function pendingHere(items) {
    return (items || window.BlinkOutbox.pending()).filter(function (it) { return it.meta && it.meta.slug === cfg.slug; });
  }

  window.BlinkClassify = {
    cfg: cfg,
    Outbox: window.BlinkOutbox,
    STRETCHES: STRETCHES,
    STRETCH_KEY: STRETCH_KEY,
    VOTED_KEY: VOTED_KEY,
    QUEUE_KEY: QUEUE_KEY,
    readJSON: readJSON,
    $: $,
    $$: $$,
    el: Blink.el,
    writeJSON: writeJSON,
    answers: answers,
    answerByKey: answerByKey,
    state: state,
    root: root,
    setPageState: setPageState,
    say: say,
    pendingHere: pendingHere,
  };
})();
