/* Blink classify page: the tutorial (opened by itself on a first visit), the field guide and the help dialog.
 * Closing any of them gives the keyboard back to the task. */
(function (C) {
  "use strict";
  var $ = C.$, $$ = C.$$, el = C.el, cfg = C.cfg, answers = C.answers;

  var tutorial = { index: 0, markedSeen: cfg.tutorial_seen };

  function exampleTriptych(example, size) {
    var wrap = el("div", { class: "mini-triptych" });
    [["science", "Science"], ["template", "Reference"], ["difference", "Difference"]].forEach(function (k) {
      var fig = el("figure", {});
      var img = el("img", {
        class: "stamp stamp-" + size,
        alt: k[1] + " cutout of candidate " + example.candid + ", " + C.state.stretch + " stretch",
        loading: "lazy",
        src: example.stamps[k[0]] + "?stretch=" + C.state.stretch,
      });
      fig.appendChild(img);
      fig.appendChild(el("figcaption", {}, k[1]));
      wrap.appendChild(fig);
    });
    return wrap;
  }

  function renderTutorialStep() {
    var steps = cfg.tutorial;
    var step = steps[tutorial.index];
    $("#tutorial-pos").textContent = String(tutorial.index + 1);
    $("#tutorial-total").textContent = String(steps.length);
    $("#tutorial-title").textContent = step.title;
    $("#tutorial-text").textContent = step.text;
    var ex = $("#tutorial-example");
    ex.replaceChildren();
    ex.hidden = !step.example;
    if (step.example) ex.appendChild(exampleTriptych(step.example, "md"));
    $("#tutorial-back").disabled = tutorial.index === 0;
    $("#tutorial-next").textContent = tutorial.index === steps.length - 1 ? "Start classifying" : "Next";
  }

  function openTutorial() {
    tutorial.index = 0;
    renderTutorialStep();
    $("#tutorial").showModal();
    $("#tutorial-next").focus();
  }

  function markTutorialSeen() {
    if (tutorial.markedSeen) return;
    tutorial.markedSeen = true;
    Blink.fetchJSON(cfg.api.tutorial_seen, { method: "POST" }).then(
      function (r) { if (!r.ok) tutorial.markedSeen = false; },
      function () { tutorial.markedSeen = false; }
    );
  }

  $("#tutorial-next").addEventListener("click", function () {
    if (tutorial.index < cfg.tutorial.length - 1) {
      tutorial.index += 1;
      renderTutorialStep();
    } else {
      $("#tutorial").close();
    }
  });
  $("#tutorial-back").addEventListener("click", function () {
    if (tutorial.index > 0) {
      tutorial.index -= 1;
      renderTutorialStep();
      if ($("#tutorial-back").disabled) $("#tutorial-next").focus();
    }
  });
  $("#tutorial").addEventListener("close", function () {
    markTutorialSeen();
    focusTask();
  });

  var guideBuilt = false;
  function buildGuide() {
    if (guideBuilt) return;
    guideBuilt = true;
    var box = $("#guide-entries");
    cfg.field_guide.forEach(function (entry, i) {
      var section = el("section", { class: "guide-entry", "aria-labelledby": "guide-entry-" + i });
      var head = el("h3", { id: "guide-entry-" + i });
      head.appendChild(document.createTextNode(entry.title + " "));
      if (entry.answer && answers[entry.answer] && answers[entry.answer].shortcut) {
        head.appendChild(el("kbd", {}, answers[entry.answer].shortcut));
      }
      section.appendChild(head);
      if (entry.text) section.appendChild(el("p", {}, entry.text));
      (entry.examples || []).forEach(function (example) { section.appendChild(exampleTriptych(example, "sm")); });
      box.appendChild(section);
    });
  }

  function openGuide() {
    buildGuide();
    var dlg = $("#field-guide");
    if (dlg.open) { dlg.close(); return; }
    dlg.showModal();
    $("#open-guide").setAttribute("aria-expanded", "true");
    $("button[data-close]", dlg).focus();
  }
  $("#field-guide").addEventListener("close", function () {
    $("#open-guide").setAttribute("aria-expanded", "false");
    focusTask();
  });
  $("#help").addEventListener("close", focusTask);

  function openHelp() { $("#help").showModal(); }

  $$("dialog [data-close]").forEach(function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });
  // A click on the backdrop (outside the dialog box) closes it, as people expect.
  $$("dialog").forEach(function (dlg) {
    dlg.addEventListener("click", function (ev) {
      if (ev.target !== dlg) return;
      var r = dlg.getBoundingClientRect();
      if (ev.clientX < r.left || ev.clientX > r.right || ev.clientY < r.top || ev.clientY > r.bottom) dlg.close();
    });
  });

  function focusTask() {
    var active = document.activeElement;
    if (!active || active === document.body || !C.root.contains(active)) $("#task").focus({ preventScroll: true });
  }

  Object.assign(C, { openTutorial: openTutorial, openGuide: openGuide, openHelp: openHelp, focusTask: focusTask });
})(window.BlinkClassify);
