// The active-learning loop page: keeps runs, their epochs, evaluation, decision and rescoring live over the
// ws/training/ websocket, and drives the "Retrain now" and "Reorder now" buttons through /api/loop/.
// No inline script: the first state comes from <script type="application/json" id="loop-data">.
(function () {
  "use strict";

  var dataEl = document.getElementById("loop-data");
  if (!dataEl) return;
  var overview = JSON.parse(dataEl.textContent) || { runs: [], tasks: [], campaigns: [] };
  var runs = {};
  var order = [];
  var selected = null;
  var socket = null;
  var pollTimer = null;
  var liveEl = document.getElementById("live-state");

  var urls = document.getElementById("loop-head").dataset;
  var el = Blink.el;

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

  // ------------------------------------------------------------------ state

  function adopt(list) {
    runs = {};
    order = [];
    (list || []).forEach(function (r) {
      r.events = r.events || [];
      runs[r.id] = r;
      order.push(r.id);
    });
    if (selected === null || !runs[selected]) selected = order.length ? order[0] : null;
  }

  // The run's status after an event of each phase (phases that follow a run's end leave it as it is).
  var STATUS_AFTER = {
    queued: "queued", running: "running", registered: "running", evaluated: "running",
    promoted: "succeeded", kept: "succeeded", diverged: "diverged", failed: "failed",
  };

  // One event of a run, in the one format of classifiers.runs.events: {"run", "phase", "at", ...}.
  function applyEvent(event) {
    var run = runs[event.run];
    if (!run) {
      // A run this page has not seen yet (started elsewhere): ask for a fresh snapshot.
      requestSnapshot();
      return;
    }
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
    render();
  }

  function promoted(run) {
    return !!(run.decision && run.decision.phase === "promoted");
  }

  // ------------------------------------------------------------------ rendering

  function renderTasks() {
    var box = document.getElementById("task-rows");
    if (!box) return;
    box.textContent = "";
    (overview.tasks || []).forEach(function (t) {
      var row = el("div", { className: "task-row" });
      row.appendChild(el("strong", {}, t.label + ": "));
      if (t.active) {
        row.appendChild(document.createTextNode(t.active.label + " "));
        var meta = el("div", { className: "meta" },
          "held-out ROC AUC " + fmt(t.active.heldout_roc_auc) + " · test ROC AUC at training " + fmt(t.active.roc_auc) +
          " · since " + when(t.active.created_at));
        row.appendChild(meta);
        (t.active.reference || []).forEach(function (f) {
          row.appendChild(el("div", { className: "meta reference" }, referenceName(f) + ": " + referenceText(f)));
        });
      } else {
        row.appendChild(el("span", { className: "muted" }, "no active version"));
      }
      if (t.in_flight) row.appendChild(el("div", { className: "meta" }, "run #" + t.in_flight.id + " " + t.in_flight.status));
      box.appendChild(row);
    });
  }

  function decisionText(run) {
    if (run.decision) return promoted(run) ? "promoted" : "waiting for ML lead";
    if (run.status === "diverged") return "never promoted (diverged)";
    if (run.status === "failed") return "—";
    return "";
  }

  function renderRuns() {
    var body = document.getElementById("runs-body");
    if (!body) return;
    body.textContent = "";
    if (!order.length) {
      var tr = el("tr", { className: "empty" });
      tr.appendChild(el("td", { colspan: "9", className: "muted" }, "No training yet. Press “Retrain now”."));
      body.appendChild(tr);
      return;
    }
    order.forEach(function (id) {
      var r = runs[id];
      var tr = el("tr", { "data-run": String(id), tabindex: "0" });
      if (id === selected) tr.className = "selected";
      tr.appendChild(el("td", {}, "#" + id));
      tr.appendChild(el("td", {}, r.task));
      tr.appendChild(el("td", {}, r.campaign || "—"));
      tr.appendChild(el("td", {}, r.trigger));
      var st = el("td");
      st.appendChild(el("span", { className: "run-status run-" + r.status }, r.status));
      tr.appendChild(st);
      tr.appendChild(el("td", { className: "num" }, r.attempts));
      tr.appendChild(el("td", {}, r.version ? "v" + r.version : "—"));
      tr.appendChild(el("td", {}, decisionText(r)));
      tr.appendChild(el("td", {}, when(r.started_at)));
      tr.addEventListener("click", function () { selected = id; render(); });
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter") { selected = id; render(); } });
      body.appendChild(tr);
    });
  }

  function has(run, phase) {
    return run.events.some(function (e) { return e.phase === phase; });
  }

  function renderSteps(run) {
    var steps = document.getElementById("run-steps");
    steps.textContent = "";
    var bad = run.status === "failed" || run.status === "diverged";
    var wasPromoted = promoted(run);
    var trained = has(run, "registered") || !!run.decision;
    var list = [
      ["Queued", run.trigger + (run.queued && run.queued.start ? " · from " + run.queued.start : "") + (run.attempts > 1 ? ", attempt " + run.attempts : ""), true],
      ["Training", run.epochs && run.epochs.length ? run.epochs.length + " epoch" + (run.epochs.length > 1 ? "s" : "") : "", trained],
      ["Evaluation", run.evaluation ? "held-out: " + run.evaluation.heldout.n + " alerts" : "", !!run.evaluation],
      ["Decision", run.decision ? (wasPromoted ? "promoted" : "kept as candidate") : "", !!run.decision],
      ["Rescoring", run.rescoring ? (run.rescoring.done || 0) + " / " + (run.rescoring.total || 0) : "", !!run.done],
      ["Queues reordered", run.done ? (run.done.campaigns || []).length + " campaign(s)" : "", !!run.done],
    ];
    var firstOpen = list.findIndex(function (s) { return !s[2]; });
    list.forEach(function (s, i) {
      var cls = "";
      if (s[2]) cls = "done";
      else if (run.decision && !wasPromoted && i >= 4) cls = "skip";
      else if (i === firstOpen) cls = bad ? "bad" : run.status === "queued" ? "" : "now";
      else if (bad) cls = "skip";
      var li = el("li", { className: cls });
      li.appendChild(el("span", { className: "what" }, s[0]));
      li.appendChild(el("span", { className: "how" }, s[1] || (cls === "skip" ? "not needed" : cls === "bad" ? run.status : "")));
      steps.appendChild(li);
    });
  }

  function renderLoss(run) {
    var svg = document.getElementById("loss-chart");
    var ns = "http://www.w3.org/2000/svg";
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var epochs = (run.epochs || []).filter(function (e) { return e.loss !== null && e.loss !== undefined; });
    var W = 480, H = 200, L = 58, R = 10, T = 10, B = 28;
    function add(tag, attrs, text) {
      var n = document.createElementNS(ns, tag);
      Object.keys(attrs).forEach(function (k) { n.setAttribute(k, attrs[k]); });
      if (text !== undefined) n.textContent = text;
      svg.appendChild(n);
      return n;
    }
    add("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" });
    add("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" });
    if (!epochs.length) {
      add("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick" }, run.status === "queued" ? "waiting for a worker…" : "no epoch yet");
      return;
    }
    var values = [];
    epochs.forEach(function (e) { values.push(e.loss); if (e.val_loss !== null && e.val_loss !== undefined) values.push(e.val_loss); });
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (hi - lo < 1e-4) { var pad = Math.max(Math.abs(hi) * 0.01, 1e-3); hi += pad; lo -= pad; }
    var digits = hi - lo < 0.02 ? 4 : 3;
    // The x axis spans the planned epochs, so the curve grows across the chart as training goes on.
    var planned = Math.max(epochs[epochs.length - 1].epochs || epochs.length, epochs.length);
    function x(i) {
      var epoch = epochs[i].epoch || i + 1;
      return L + (planned === 1 ? (W - L - R) / 2 : ((epoch - 1) * (W - L - R)) / (planned - 1));
    }
    function y(v) { return T + ((hi - v) * (H - T - B)) / (hi - lo); }
    [lo, (lo + hi) / 2, hi].forEach(function (v) {
      add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, v.toFixed(digits));
    });
    add("text", { x: L, y: H - 8, class: "tick" }, "epoch 1");
    if (planned > 1) add("text", { x: W - R, y: H - 8, "text-anchor": "end", class: "tick" }, "epoch " + planned);
    function path(key, cls) {
      var d = "";
      epochs.forEach(function (e, i) {
        if (e[key] === null || e[key] === undefined) return;
        d += (d ? " L" : "M") + x(i).toFixed(1) + " " + y(e[key]).toFixed(1);
      });
      if (d) add("path", { d: d, class: cls });
    }
    path("loss", "loss");
    path("val_loss", "val");
    epochs.forEach(function (e, i) { add("circle", { cx: x(i), cy: y(e.loss), r: 3, class: "dot" }); });
  }

  function renderEvaluation(run) {
    var body = document.querySelector("#eval-table tbody");
    var note = document.getElementById("eval-note");
    body.textContent = "";
    var ev = run.evaluation;
    if (!ev) {
      note.textContent = run.status === "running" || run.status === "queued" ? "After training." : "No evaluation for this run.";
      return;
    }
    var head = el("tr");
    head.appendChild(el("th", {}, ""));
    head.appendChild(el("th", { className: "num" }, "Candidate v" + ev.candidate_version));
    head.appendChild(el("th", { className: "num" }, ev.active_version ? "Active v" + ev.active_version : "No active version"));
    body.appendChild(head);
    [["roc_auc", "ROC AUC", true], ["accuracy", "Accuracy", true], ["fpr", "False-positive rate", false], ["fnr", "False-negative rate", false]].forEach(function (m) {
      var tr = el("tr");
      tr.appendChild(el("th", {}, m[1]));
      var c = ev.metrics.candidate ? ev.metrics.candidate[m[0]] : null;
      var a = ev.metrics.active ? ev.metrics.active[m[0]] : null;
      var cCell = el("td", { className: "num" }, fmt(c));
      if (c !== null && a !== null && c !== undefined && a !== undefined && c !== a) {
        cCell.className += (c > a) === m[2] ? " better" : " worse";
      }
      tr.appendChild(cCell);
      tr.appendChild(el("td", { className: "num" }, fmt(a)));
      body.appendChild(tr);
    });
    var ref = ev.metrics.reference_sets || {};
    Object.keys(ref.candidate || {}).forEach(function (name) {
      var tr = el("tr", { className: "reference" });
      tr.appendChild(el("th", {}, referenceName(ref.candidate[name])));
      tr.appendChild(el("td", {}, referenceText(ref.candidate[name])));
      tr.appendChild(el("td", {}, ref.active ? referenceText(ref.active[name]) : "—"));
      body.appendChild(tr);
    });
    note.textContent = ev.heldout.n + " held-out alerts (" + ev.heldout.n_positive + " positive), set " + String(ev.heldout.fingerprint || "").slice(0, 16) +
      (ev.margin === null || ev.margin === undefined ? "." : "; promotion margin " + ev.margin + " in ROC AUC.");
  }

  function renderDecision(run) {
    var p = document.getElementById("run-decision");
    p.className = "decision";
    p.textContent = "";
    if (run.decision) {
      p.className += promoted(run) ? " promoted" : " waiting";
      p.appendChild(el("span", { className: "verdict" }, promoted(run) ? "Promoted " + run.decision.label + ". " : "Kept as candidate " + run.decision.label + ". "));
      p.appendChild(document.createTextNode(run.decision.reason || ""));
    } else if (run.status === "diverged") {
      p.appendChild(el("span", { className: "verdict" }, "Diverged: never promoted."));
    } else {
      p.textContent = "—";
    }
  }

  function renderRescoring(run) {
    var bar = document.getElementById("rescore-bar");
    var text = document.getElementById("run-rescoring");
    var list = document.getElementById("run-reordered");
    list.textContent = "";
    var r = run.rescoring;
    var pct = r && r.total ? Math.round((100 * (r.done || 0)) / r.total) : run.done ? 100 : 0;
    bar.style.width = pct + "%";
    if (run.done && run.done.skipped) {
      text.textContent = "Not rescored: " + run.done.reason + ".";
    } else if (run.done) {
      text.textContent = "Rescored " + run.done.rescored + " alerts with v" + (r ? r.version : run.version) + " in " + run.done.seconds + " s; queues reordered.";
    } else if (r) {
      text.textContent = "Rescoring with v" + r.version + ": " + (r.done || 0) + " / " + (r.total || 0) + " alerts (" + pct + " %).";
    } else if (run.decision && !promoted(run)) {
      text.textContent = "Not needed: the active version did not change.";
    } else {
      text.textContent = "After a promotion.";
    }
    run.events.filter(function (e) { return e.phase === "reordered"; }).forEach(function (e) {
      list.appendChild(el("li", {}, e.campaign + ": " + e.n_subjects + " subjects by " + e.strategy + " (" + e.n_scored + " scored) in " + fmt(e.duration_ms, 0) + " ms" + (e.note ? " — " + e.note : "")));
    });
  }

  function renderDetail() {
    var box = document.getElementById("run-detail");
    if (selected === null || !runs[selected]) { box.hidden = true; return; }
    var run = runs[selected];
    box.hidden = false;
    box.dataset.status = run.status;
    document.getElementById("detail-title").textContent =
      "Run #" + run.id + " · " + run.task + (run.campaign ? " on " + run.campaign : "") + " · " + run.status;
    renderSteps(run);
    var labels = document.getElementById("run-labels");
    labels.textContent = run.labels
      ? run.labels.n + (run.labels.source === "campaign" ? " consensus labels (" : " labels from " + run.labels.source + " (") + Object.keys(run.labels.per_label || {}).map(function (k) { return k + " " + run.labels.per_label[k]; }).join(", ") +
        ")" + (run.labels.source === "campaign" ? ", weighted by consensus confidence" : "") + "; " + run.labels.heldout_excluded + " held-out alerts left out."
      : "";
    renderLoss(run);
    var last = run.epochs && run.epochs.length ? run.epochs[run.epochs.length - 1] : null;
    document.getElementById("run-epoch").textContent = last
      ? "Epoch " + last.epoch + " of " + last.epochs + ": loss " + fmt(last.loss, 4) + (last.val_loss !== null && last.val_loss !== undefined ? ", validation loss " + fmt(last.val_loss, 4) : "")
      : "";
    renderEvaluation(run);
    renderDecision(run);
    renderRescoring(run);
    document.getElementById("run-error").textContent = run.error || "";
  }

  function renderQueues() {
    (overview.campaigns || []).forEach(function (c) {
      var row = document.querySelector('#queues-body tr[data-campaign="' + c.slug + '"]');
      if (!row) return;
      var cells = row.children;
      cells[3].textContent = c.unretired;
      cells[4].textContent = c.labels_since_training;
      cells[6].textContent = c.last_ordering
        ? when(c.last_ordering.at) + " · " + c.last_ordering.strategy + (c.last_ordering.version ? " · " + c.last_ordering.version : "")
        : "never";
    });
  }

  function render() {
    renderTasks();
    renderRuns();
    renderDetail();
    renderQueues();
  }

  // ------------------------------------------------------------------ live updates

  function setLive(state, text) {
    if (!liveEl) return;
    liveEl.dataset.state = state;
    liveEl.textContent = text;
  }

  function takeSnapshot(snapshot) {
    overview = snapshot;
    adopt(snapshot.runs);
    render();
  }

  function requestSnapshot() {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "refresh" }));
    else poll();
  }

  function poll() {
    Blink.fetchJSON(urls.overview)
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
    socket = new WebSocket(Blink.socketURL(urls.socket));
    socket.addEventListener("message", function (m) {
      var msg = JSON.parse(m.data);
      if (msg.type === "snapshot") {
        takeSnapshot(msg.overview);
        if (msg.live) { stopPolling(); setLive("live", "live"); } else startPolling();
      } else if (msg.type === "event" && msg.event) {
        applyEvent(msg.event);
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

  // ------------------------------------------------------------------ buttons

  function retrain(event) {
    event.preventDefault();
    var form = event.target;
    var message = document.getElementById("retrain-message");
    var button = document.getElementById("retrain-button");
    var epochs = parseInt(form.epochs.value, 10);
    var body = { campaign: form.campaign.value, task: form.task.value, auto_promote: form.auto_promote.checked,
      freeze_conv: form.freeze_conv.checked };
    if (epochs > 0) body.epochs = epochs;
    if (form.from_version.value) body.from_version = parseInt(form.from_version.value, 10);
    button.disabled = true;
    message.className = "form-message";
    message.textContent = "Queuing…";
    Blink.fetchJSON(form.dataset.api, { method: "POST", body: body })
      .then(function (res) {
        button.disabled = false;
        if (!res.ok) {
          message.className = "form-message bad";
          message.textContent = (res.body.field ? res.body.field + ": " : "") + res.body.detail;
          return;
        }
        var run = res.body.run;
        run.events = run.events || [];
        if (!runs[run.id]) { order.unshift(run.id); }
        runs[run.id] = run;
        selected = run.id;
        message.className = res.body.created ? "form-message ok" : "form-message warn";
        message.textContent = res.body.created
          ? "Queued run #" + run.id + ". A worker (manage.py db_worker) picks it up."
          : "A " + run.task + " training is already " + run.status + " (run #" + run.id + "): showing it instead of starting a second one.";
        render();
      })
      .catch(function (err) {
        button.disabled = false;
        message.className = "form-message bad";
        message.textContent = "Could not reach the server: " + err;
      });
  }

  function reorder(event) {
    var button = event.target;
    button.disabled = true;
    Blink.fetchJSON(button.dataset.url, { method: "POST" }).then(function (r) {
      button.textContent = r.ok ? "Queued" : "Failed";
      window.setTimeout(function () { button.disabled = false; button.textContent = "Reorder now"; poll(); }, 2500);
    });
  }

  var form = document.getElementById("retrain-form");
  if (form) {
    form.addEventListener("submit", retrain);
    // The classifier follows the chosen campaign's own (it can still be changed by hand), and a run can only
    // start from a version of its own classifier.
    var campaignSelect = form.campaign;
    function syncVersions() {
      Array.prototype.forEach.call(form.from_version.options, function (opt) {
        opt.hidden = opt.disabled = !!opt.dataset.task && opt.dataset.task !== form.task.value;
      });
      if (form.from_version.selectedOptions[0] && form.from_version.selectedOptions[0].disabled) form.from_version.value = "";
    }
    function syncTask() {
      var opt = campaignSelect.options[campaignSelect.selectedIndex];
      if (opt && opt.dataset.task) form.task.value = opt.dataset.task;
      syncVersions();
    }
    campaignSelect.addEventListener("change", syncTask);
    form.task.addEventListener("change", syncVersions);
    syncTask();
  }
  document.querySelectorAll("button.reorder").forEach(function (b) { b.addEventListener("click", reorder); });

  adopt(overview.runs);
  render();
  connect(1000);
  // A safety net under the live feed: a fresh snapshot every 10 s (events from a worker on another machine only
  // arrive when the channel layer is shared, e.g. Redis).
  window.setInterval(function () {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "refresh" }));
  }, 10000);
})();
