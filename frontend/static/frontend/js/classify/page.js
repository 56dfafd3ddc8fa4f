/* Blink classify page: the wiring, loaded last. The live counter's websocket, the keyboard, the buttons, and
 * the start: the first subject, and the tutorial on a first visit. */
(function (C) {
  "use strict";
  var $ = C.$, $$ = C.$$, cfg = C.cfg, state = C.state;

  function connectLive(attempt) {
    if (!("WebSocket" in window)) return;
    var ws;
    try {
      ws = new WebSocket(Blink.socketURL(cfg.ws));
    } catch (e) {
      return;
    }
    var opened = false;
    ws.onopen = function () {
      opened = true;
      $("#live-dot").classList.add("live-on");
    };
    ws.onmessage = function (ev) {
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === "count") {
        C.renderProgress(msg);
      } else if (msg.type === "model_live") {
        var notice = document.getElementById("live-notice");
        if (notice) {
          notice.textContent = msg.text;
          notice.hidden = false;
          setTimeout(function () { notice.hidden = true; }, 20000);
        }
      }
    };
    ws.onclose = function (ev) {
      $("#live-dot").classList.remove("live-on");
      if (ev.code === 4403) return; // not allowed: do not knock again
      var next = opened ? 0 : (attempt || 0) + 1;
      setTimeout(function () { connectLive(next); }, Math.min(60000, 1000 * Math.pow(2, next)));
    };
  }

  var TOOL_ACTIONS = {
    zoom: C.cycleZoom,
    stretch: C.cycleStretch,
    explanation: C.toggleOverlay,
    "field guide": C.openGuide,
    "done & talk": function () { C.done(true); },
    "reset zoom": C.resetZoom,
    help: C.openHelp,
  };

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    var t = ev.target;
    if (t && t.closest && t.closest("input, textarea, select, [contenteditable=true]")) return;
    if (C.root.getAttribute("data-state") === "leaving") return;
    var key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (key === "Enter") {
      if (t && t.closest && t.closest("button, a, summary")) return; // the focused control's own action
      ev.preventDefault();
      C.done(ev.shiftKey);
      return;
    }
    if (C.answerByKey[key] && state.current) {
      ev.preventDefault();
      C.selectAnswer(C.answerByKey[key]);
      return;
    }
    var tool = cfg.tool_keys[key] || (key === "?" ? "help" : null);
    if (tool && TOOL_ACTIONS[tool]) {
      ev.preventDefault();
      TOOL_ACTIONS[tool]();
      return;
    }
    if (state.zoom > 1 && /^Arrow/.test(ev.key)) {
      var step = C.frameSize() / 8;
      var d = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] }[ev.key];
      ev.preventDefault();
      C.pan(d[0], d[1]);
    }
  });

  $$("#answers .answer").forEach(function (b) {
    b.addEventListener("click", function () { C.selectAnswer(b.getAttribute("data-answer")); });
  });
  $("#done-btn").addEventListener("click", function () { C.done(false); });
  $("#done-talk-btn").addEventListener("click", function () { C.done(true); });
  $("#zoom-btn").addEventListener("click", C.cycleZoom);
  $("#zoom-reset").addEventListener("click", C.resetZoom);
  $("#overlay-btn").addEventListener("click", C.toggleOverlay);
  $$(".seg-btn").forEach(function (b) {
    b.addEventListener("click", function () { C.setStretch(b.getAttribute("data-stretch")); });
  });
  $("#open-tutorial").addEventListener("click", C.openTutorial);
  $("#open-guide").addEventListener("click", C.openGuide);
  $("#help-link").addEventListener("click", C.openGuide);
  $("#open-help").addEventListener("click", C.openHelp);
  window.addEventListener("resize", C.applyTransform);

  C.setStretch(state.stretch);
  C.renderStats(cfg.stats);
  C.renderProgress(cfg.progress);
  C.renderOutboxStatus();
  C.restoreQueue();
  C.showNext();
  connectLive(0);
  if (!cfg.tutorial_seen && cfg.tutorial.length) C.openTutorial();
  else C.focusTask();
})(window.BlinkClassify);
