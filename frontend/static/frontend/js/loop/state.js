// The active-learning loop page: keeps runs, their epochs, evaluation, decision and rescoring up to date (over
// the ws/training/ websocket when the channel layer is shared between processes, else by following each run's
// stored events), and drives the "Retrain now" and "Reorder now" buttons through /api/loop/.
// No inline script: the first state comes from <script type="application/json" id="loop-data">.
//
// Plain scripts loaded in order (no bundler), each adding its part to window.BlinkLoop: state.js (this: the
// runs as this page knows them, and the events that change them), runs.js (the tasks, runs and queues
// tables), run_detail.js (the selected run), live.js (websocket or stored events), page.js (buttons and start).
(function () {
  "use strict";

  var dataEl = document.getElementById("loop-data");
  if (!dataEl) return;

  function fmt(x, digits) {
    if (x === null || x === undefined || Number.isNaN(x)) return "—";
    return Number(x).toFixed(digits === undefined ? 3 : digits);
  }

  // A reference-set figure in the words of the console's versions and compare pages (the same stored figures).
  function referenceText(f) {
    if (!f || !f.evaluated) return "not evaluated yet";
    return "ROC AUC " + fmt(f.roc_auc) + " · accuracy " + fmt(f.accuracy) + " · n " + f.n + " (" + f.n_positive + " positive)";
  }

  // The set's name with what its labels are: braai agreement says it is a model's opinion.
  function referenceName(f) {
    return f.name + " — " + f.note;
  }

  function when(iso) {
    if (!iso) return "—";
    var d = new Date(iso);
    return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  // runs by id, their order on the page (newest first), the selected run's id, and the last overview.
  var Loop = {
    overview: JSON.parse(dataEl.textContent) || { runs: [], tasks: [], campaigns: [] },
    runs: {},
    order: [],
    selected: null,
    urls: document.getElementById("loop-head").dataset,
    el: Blink.el,
    fmt: fmt,
    referenceText: referenceText,
    referenceName: referenceName,
    when: when,
  };

  function adopt(list) {
    Loop.runs = {};
    Loop.order = [];
    (list || []).forEach(function (r) {
      r.events = r.events || [];
      r.seq = r.seq || 0;
      Loop.runs[r.id] = r;
      Loop.order.push(r.id);
    });
    if (Loop.selected === null || !Loop.runs[Loop.selected]) Loop.selected = Loop.order.length ? Loop.order[0] : null;
  }

  // The run's status after an event of each phase (phases that follow a run's end leave it as it is).
  var STATUS_AFTER = {
    queued: "queued", running: "running", registered: "running", evaluated: "running",
    promoted: "succeeded", kept: "succeeded", diverged: "diverged", failed: "failed",
  };

  // One event of a run, in the one format of classifiers.runs.events: {"run", "phase", "seq", "at", ...}.
  // False when the page already had it (the same event can come from the socket and from the stored events).
  // options.render false: the caller draws once after a batch of events.
  function applyEvent(event, options) {
    var run = Loop.runs[event.run];
    if (!run) {
      // A run this page has not seen yet (started elsewhere): ask for a fresh snapshot.
      Loop.requestSnapshot();
      return false;
    }
    if (event.seq) {
      if (event.seq <= (run.seq || 0)) return false;
      run.seq = event.seq;
    }
    run.lastNews = Date.now();
    run.events.push(event);
    if (STATUS_AFTER[event.phase]) run.status = STATUS_AFTER[event.phase];
    if (event.phase === "running") {
      if (event.step === "started") { run.attempts = event.attempt || run.attempts; run.started_at = event.at; }
      if (event.step === "labels") run.labels = event;
      if (event.step === "epoch") { run.epochs = run.epochs || []; run.epochs.push(event); }
    }
    if (event.phase === "queued") run.queued = event;
    if (event.phase === "registered") run.version = event.version;
    if (event.phase === "evaluated") run.evaluation = event;
    if (event.phase === "promoted" || event.phase === "kept") { run.decision = event; run.version = event.version; }
    if (event.phase === "rescoring") run.rescoring = event;
    if (event.phase === "rescored") run.done = event;
    if (event.phase === "diverged" || event.phase === "failed") run.error = event.reason;
    if (!options || options.render !== false) Loop.render();
    return true;
  }

  function promoted(run) {
    return !!(run.decision && run.decision.phase === "promoted");
  }

  Object.assign(Loop, { adopt: adopt, applyEvent: applyEvent, promoted: promoted });
  window.BlinkLoop = Loop;
})();
