// The campaign builder's wiring, loaded last: a new campaign starts from its question type's default classes
// and a first preview; an existing one loads from the API with its tutorial, field guide and state buttons.
(function (B) {
  "use strict";
  var $ = B.$;

  document.addEventListener("DOMContentLoaded", function () {
    $("campaign-form").addEventListener("submit", B.save);
    $("f-question-type").addEventListener("change", B.onQuestionType);
    $("add-class").addEventListener("click", function () {
      B.addClassRow({ key: "", label: "", shortcut: String($("classes-rows").children.length + 1) }, true);
    });
    document.querySelectorAll("#selection-card input, #selection-card select, #f-sample-size, #f-sample-seed").forEach(function (el) {
      el.addEventListener("input", B.schedulePreview);
      el.addEventListener("change", B.schedulePreview);
    });
    $("selection-json").addEventListener("input", B.schedulePreview);
    $("json-mode").addEventListener("change", function () { B.setJsonMode($("json-mode").checked); B.schedulePreview(); });
    document.querySelectorAll(".example-input").forEach(function (el) {
      el.addEventListener("focus", function () { B.lastExampleTarget = el; });
    });
    if (B.slug) {
      $("tutorial-form").addEventListener("submit", B.addStep);
      $("guide-form").addEventListener("submit", B.addEntry);
      document.querySelectorAll("#state-panel [data-state]").forEach(function (btn) {
        btn.addEventListener("click", function () { B.setState(btn.dataset.state); });
      });
      $("add-matching").addEventListener("click", B.addMatching);
      B.api("GET", B.urls.campaign).then(function (res) {
        if (!res.ok) { $("save-status").textContent = res.body.detail; return; }
        B.fillForm(res.body);
        if (/created=1/.test(window.location.search)) {
          $("save-status").textContent = "Draft saved. Add a tutorial and a field guide, then go live.";
          // Said once: a reload of the draft's page is not another save.
          window.history.replaceState(null, "", window.location.pathname);
        }
      });
      B.loadTutorial();
      B.loadGuide();
    } else {
      B.onQuestionType();
      B.runPreview();
    }
  });
})(window.BlinkBuilder);
