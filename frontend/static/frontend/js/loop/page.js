// The loop page's buttons and start, loaded last: "Retrain now" (its classifier follows the chosen campaign)
// and "Reorder now" call the loop API; then the first render from the page's data, and the live feed.
(function (Loop) {
  "use strict";
  if (!Loop) return;

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
        run.seq = run.seq || 0;
        if (!Loop.runs[run.id]) { Loop.order.unshift(run.id); }
        Loop.runs[run.id] = run;
        Loop.selected = run.id;
        message.className = res.body.created ? "form-message ok" : "form-message warn";
        message.textContent = res.body.created
          ? "Queued run #" + run.id + ". A worker (manage.py db_worker) picks it up."
          : "A " + run.task + " training is already " + run.status + " (run #" + run.id + "): showing it instead of starting a second one.";
        Loop.render();
        Loop.follow();
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
      window.setTimeout(function () { button.disabled = false; button.textContent = "Reorder now"; Loop.poll(); }, 2500);
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

  Loop.adopt(Loop.overview.runs);
  Loop.render();
  Loop.goLive();
})(window.BlinkLoop);
