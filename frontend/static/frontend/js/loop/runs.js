// The loop page's tables: each task's active version, the runs (a click selects one), and the campaigns'
// queues; render() redraws the page from BlinkLoop's state.
(function (Loop) {
  "use strict";
  if (!Loop) return;
  var el = Loop.el, fmt = Loop.fmt, when = Loop.when;

  function renderTasks() {
    var box = document.getElementById("task-rows");
    if (!box) return;
    box.textContent = "";
    (Loop.overview.tasks || []).forEach(function (t) {
      var row = el("div", { className: "task-row" });
      row.appendChild(el("strong", {}, t.label + ": "));
      if (t.active) {
        row.appendChild(document.createTextNode(t.active.label + " "));
        var meta = el("div", { className: "meta" },
          "held-out ROC AUC " + fmt(t.active.heldout_roc_auc) + (t.active.heldout_n ? " (n " + t.active.heldout_n + ")" : "") +
          " · own test split at training: ROC AUC " + fmt(t.active.roc_auc) + (t.active.test_n ? " (n " + t.active.test_n + ")" : "") +
          " · since " + when(t.active.created_at));
        row.appendChild(meta);
        (t.active.reference || []).forEach(function (f) {
          row.appendChild(el("div", { className: "meta reference" }, Loop.referenceName(f) + ": " + Loop.referenceText(f)));
        });
      } else {
        row.appendChild(el("span", { className: "muted" }, "no active version"));
      }
      if (t.in_flight) {
        // The run as this page last heard of it (the overview may be a few seconds older).
        var known = Loop.runs[t.in_flight.id];
        row.appendChild(el("div", { className: "meta" }, "run #" + t.in_flight.id + " " + (known ? known.status : t.in_flight.status)));
      }
      box.appendChild(row);
    });
  }

  function decisionText(run) {
    if (run.decision) {
      // The held-out figures and the margin the decision weighed, so "promoted" never stands unexplained.
      var h = run.decision.heldout, why = "";
      if (h && h.candidate_roc_auc !== null && h.candidate_roc_auc !== undefined && h.active_roc_auc !== null && h.active_roc_auc !== undefined) {
        why = ": ROC AUC " + fmt(h.candidate_roc_auc) + " vs active " + fmt(h.active_roc_auc) + ", margin " + h.margin;
      }
      return (Loop.promoted(run) ? "promoted" : "waiting for ML lead") + why;
    }
    if (run.status === "diverged") return "never promoted (diverged)";
    if (run.status === "failed") return "—";
    return "";
  }

  function select(id) {
    Loop.selected = id;
    render();
  }

  function renderRuns() {
    var body = document.getElementById("runs-body");
    if (!body) return;
    body.textContent = "";
    if (!Loop.order.length) {
      var tr = el("tr", { className: "empty" });
      tr.appendChild(el("td", { colspan: "9", className: "muted" }, "No training yet. Press “Retrain now”."));
      body.appendChild(tr);
      return;
    }
    Loop.order.forEach(function (id) {
      var r = Loop.runs[id];
      var tr = el("tr", { "data-run": String(id), tabindex: "0" });
      if (id === Loop.selected) tr.className = "selected";
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
      tr.addEventListener("click", function () { select(id); });
      tr.addEventListener("keydown", function (e) { if (e.key === "Enter") select(id); });
      body.appendChild(tr);
    });
  }

  function renderQueues() {
    (Loop.overview.campaigns || []).forEach(function (c) {
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
    Loop.renderDetail();
    renderQueues();
  }

  Loop.render = render;
})(window.BlinkLoop);
