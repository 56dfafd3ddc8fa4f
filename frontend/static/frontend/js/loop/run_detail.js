// The loop page's panel for the selected run: its steps from queue to reordered queues, the loss curve as
// epochs arrive, the held-out and reference-set evaluation, the promotion decision and the rescoring.
(function (Loop) {
  "use strict";
  if (!Loop) return;
  var el = Loop.el, fmt = Loop.fmt, promoted = Loop.promoted;

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
      tr.appendChild(el("th", {}, Loop.referenceName(ref.candidate[name])));
      tr.appendChild(el("td", {}, Loop.referenceText(ref.candidate[name])));
      tr.appendChild(el("td", {}, ref.active ? Loop.referenceText(ref.active[name]) : "—"));
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
    if (Loop.selected === null || !Loop.runs[Loop.selected]) { box.hidden = true; return; }
    var run = Loop.runs[Loop.selected];
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

  Loop.renderDetail = renderDetail;
})(window.BlinkLoop);
