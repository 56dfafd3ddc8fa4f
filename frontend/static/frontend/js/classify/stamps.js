/* Blink classify page: the triptych. Science, reference and difference stamps in the chosen stretch, zoomed
 * and panned together, with the model's explanation maps laid over them. */
(function (C) {
  "use strict";
  var $ = C.$, $$ = C.$$, state = C.state;

  var OVERLAY_NAMES = { gradcam: "Grad-CAM", saliency: "saliency" };
  var ZOOMS = [1, 2, 4];

  function arcsec(value) { return (Math.round(value * 10) / 10) + "″"; }

  // "30×30 px at 0.2″/px (6″)": a stamp is served at its own pixel count (ZTF 63×63, Rubin 30×30 to 71×71) and
  // drawn as wide as the frame, so the page says how many pixels and, once the survey's pixel scale is known
  // (the card, else the light curve's answer), how much sky they cover.
  function stampScaleText(w, h, scale) {
    var text = w + "×" + h + " px";
    if (typeof scale !== "number") return text;
    var sky = w === h ? arcsec(w * scale) : arcsec(w * scale) + "×" + arcsec(h * scale);
    return text + " at " + scale.toFixed(1) + "″/px (" + sky + ")";
  }

  function describeStamps(subject) {
    if (state.current !== subject) return;
    var img = $("#triptych img.stamp[data-kind=science]");
    if (!img || !img.naturalWidth || img.getAttribute("src") !== C.stampSrc(subject, "science")) return;
    var scale = typeof subject.pixel_scale_arcsec === "number" ? subject.pixel_scale_arcsec : subject._pixelScale;
    $("#stamp-scale").textContent = stampScaleText(img.naturalWidth, img.naturalHeight, scale);
  }

  function renderStamps(subject) {
    $$("#triptych img.stamp").forEach(function (img) {
      var kind = img.getAttribute("data-kind");
      var frame = img.closest(".stamp-frame");
      var missing = $(".stamp-missing", frame);
      var wanted = C.stampSrc(subject, kind);
      missing.hidden = true;
      // Say what the stamp shows: which image, of which object, in which stretch.
      img.alt = $("figcaption", frame.parentNode).textContent + " cutout of " + subject.object_id + ", " + state.stretch + " stretch";
      // Only the image we want now counts: a replaced, half-loaded one may still report an error.
      img.onload = function () {
        missing.hidden = true;
        img.setAttribute("data-pixels", img.naturalWidth + "x" + img.naturalHeight);
        describeStamps(subject);
      };
      img.onerror = function () {
        setTimeout(function () {
          if (img.getAttribute("src") === wanted && !(img.complete && img.naturalWidth > 0)) missing.hidden = false;
        }, 0);
      };
      if (kind === "science" && img.getAttribute("src") !== wanted) $("#stamp-scale").textContent = "";
      img.src = wanted;
      if (kind === "science" && img.complete) describeStamps(subject);
    });
    $("#stretch-name").textContent = state.stretch;
  }

  // The kinds of explanation a model panel offers (none without a panel).
  function explanationKinds(panel) {
    return panel && panel.explanations ? Object.keys(panel.explanations) : [];
  }

  // Explanation images by URL: the server computes a map on its first request (a second or more), so each
  // is fetched once, kept for cycling back to it, and fetched ahead for the next candidates while the overlay
  // is on. A failed one is forgotten, so the next attempt asks again.
  var MAX_EXPLANATIONS = 40;
  var PREFETCH_AHEAD = 2;
  var explanations = {};
  var explanationOrder = [];

  function loadExplanation(url) {
    var entry = explanations[url];
    if (entry) return entry;
    entry = { img: new Image(), status: "loading", waiters: [] };
    function settle(status) {
      entry.status = status;
      if (status === "failed") delete explanations[url];
      entry.waiters.splice(0).forEach(function (fn) { fn(entry); });
    }
    entry.img.onload = function () { settle("ready"); };
    entry.img.onerror = function () { settle("failed"); };
    entry.img.src = url;
    explanations[url] = entry;
    explanationOrder.push(url);
    while (explanationOrder.length > MAX_EXPLANATIONS) delete explanations[explanationOrder.shift()];
    return entry;
  }

  function prefetchExplanations() {
    if (!state.overlay) return;
    state.queue.slice(0, PREFETCH_AHEAD).forEach(function (subject) {
      var panel = C.modelPanel(subject);
      var explanation = panel && panel.explanations ? panel.explanations[state.overlay] : null;
      if (explanation) loadExplanation(explanation.url);
    });
  }

  function setOverlayLoading(loading) {
    $("#overlay-btn").setAttribute("aria-busy", loading ? "true" : "false");
    $("#overlay-status").hidden = !loading;
    C.root.classList.toggle("overlay-loading", loading);
  }

  // An explanation PNG holds the three stamps side by side (science, reference, difference) with the map laid
  // over them; each stamp frame shows its own third, so zoom and pan move it with the stamp.
  function paintOverlay(img, url) {
    var w = img.naturalWidth;
    var h = img.naturalHeight;
    var gap = Math.max(0, (w - 3 * h) / 2);
    $$("#triptych .overlay").forEach(function (layer, i) {
      layer.style.backgroundImage = "url(" + JSON.stringify(url) + ")";
      layer.style.backgroundSize = (100 * w / h) + "% 100%";
      layer.style.backgroundPosition = (w > h ? (100 * i * (h + gap) / (w - h)) : 0) + "% 0";
      layer.hidden = false;
    });
  }

  function applyOverlay() {
    var subject = state.current;
    var kind = state.overlay;
    var panel = subject && C.modelPanel(subject);
    var explanation = panel && panel.explanations && kind ? panel.explanations[kind] : null;
    var layers = $$("#triptych .overlay");
    var name = explanation ? OVERLAY_NAMES[kind] || kind : "off";
    $("#overlay-btn").setAttribute("aria-pressed", explanation ? "true" : "false");
    $("#overlay-label").textContent = "Model explanation: " + name;
    $("#overlay-btn").title = explanation ? explanation.title : "Show where the model looked";
    // The previous candidate's (or kind's) map never lingers over this one while the new one loads.
    layers.forEach(function (layer) { layer.hidden = true; });
    setOverlayLoading(false);
    if (!explanation) return;
    var entry = loadExplanation(explanation.url);
    function show(done) {
      if (state.current !== subject || state.overlay !== kind) return;
      setOverlayLoading(false);
      if (done.status === "ready") {
        paintOverlay(done.img, explanation.url);
      } else {
        C.say("The model explanation could not be loaded.", "quiet");
      }
    }
    if (entry.status === "ready") {
      show(entry);
    } else {
      setOverlayLoading(true);
      entry.waiters.push(show);
    }
    prefetchExplanations();
  }

  // e cycles: Grad-CAM, saliency (whatever the model offers), off.
  function toggleOverlay() {
    if ($("#overlay-btn").hidden || !state.current) return;
    var kinds = explanationKinds(C.modelPanel(state.current));
    var at = kinds.indexOf(state.overlay);
    state.overlay = at + 1 < kinds.length ? kinds[at + 1] : null;
    applyOverlay();
  }

  function frameSize() {
    var frame = $(".stamp-frame");
    return frame ? frame.clientWidth : 200;
  }

  function clampPan() {
    var half = frameSize() / 2;
    var limit = half * (1 - 1 / state.zoom);
    state.panX = Math.max(-limit, Math.min(limit, state.panX));
    state.panY = Math.max(-limit, Math.min(limit, state.panY));
  }

  function applyTransform() {
    clampPan();
    var t = "scale(" + state.zoom + ") translate(" + state.panX + "px, " + state.panY + "px)";
    $$(".stamp-layer").forEach(function (layer) { layer.style.transform = t; });
    var c = "translate(" + state.panX * state.zoom + "px, " + state.panY * state.zoom + "px)";
    $$(".crosshair").forEach(function (x) { x.style.transform = c; });
    $("#zoom-level").textContent = state.zoom + "×";
    $("#pan-hint").hidden = state.zoom === 1;
    C.root.classList.toggle("zoomed", state.zoom > 1);
  }

  function cycleZoom() {
    state.zoom = ZOOMS[(ZOOMS.indexOf(state.zoom) + 1) % ZOOMS.length];
    applyTransform();
  }

  function resetZoom() {
    state.zoom = 1;
    state.panX = 0;
    state.panY = 0;
    applyTransform();
  }

  function pan(dx, dy) {
    state.panX += dx / state.zoom;
    state.panY += dy / state.zoom;
    applyTransform();
  }

  function setStretch(name) {
    state.stretch = name;
    C.writeJSON(window.localStorage, C.STRETCH_KEY, name);
    $$(".seg-btn").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-stretch") === name ? "true" : "false");
    });
    if (state.current) renderStamps(state.current);
    state.queue.forEach(C.preload);
  }

  function cycleStretch() {
    setStretch(C.STRETCHES[(C.STRETCHES.indexOf(state.stretch) + 1) % C.STRETCHES.length]);
  }

  (function enableDrag() {
    var drag = null;
    $$(".stamp-frame").forEach(function (frame) {
      frame.addEventListener("pointerdown", function (ev) {
        if (state.zoom === 1) return;
        drag = { x: ev.clientX, y: ev.clientY };
        frame.setPointerCapture(ev.pointerId);
        ev.preventDefault();
      });
      frame.addEventListener("pointermove", function (ev) {
        if (!drag) return;
        pan(ev.clientX - drag.x, ev.clientY - drag.y);
        drag = { x: ev.clientX, y: ev.clientY };
      });
      ["pointerup", "pointercancel"].forEach(function (name) {
        frame.addEventListener(name, function () { drag = null; });
      });
    });
  })();

  Object.assign(C, {
    renderStamps: renderStamps,
    describeStamps: describeStamps,
    explanationKinds: explanationKinds,
    applyOverlay: applyOverlay,
    prefetchExplanations: prefetchExplanations,
    toggleOverlay: toggleOverlay,
    frameSize: frameSize,
    applyTransform: applyTransform,
    cycleZoom: cycleZoom,
    resetZoom: resetZoom,
    pan: pan,
    setStretch: setStretch,
    cycleStretch: cycleStretch,
  });
})(window.BlinkClassify);
