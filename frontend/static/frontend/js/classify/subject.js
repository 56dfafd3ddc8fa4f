/* Blink classify page: one subject on screen. Its candidate link, stamps, alert fields, the active model's
 * opinion and its light curve. */
(function (C) {
  "use strict";
  var $ = C.$, el = C.el, cfg = C.cfg, state = C.state;

  var FIELD_ROWS = [
    ["Magnitude (PSF)", "magpsf ± sigmapsf (filter)", function (f) { return f.magpsf == null ? null : f.magpsf.toFixed(2) + (f.sigmapsf == null ? "" : " ± " + f.sigmapsf.toFixed(2)) + " (" + f.filter + ")"; }],
    ["Positive subtr.", "isdiffpos", function (f) { return f.isdiffpos == null ? null : (f.isdiffpos ? "yes" : "no (negative)"); }],
    ["FWHM", "fwhm", function (f) { return f.fwhm == null ? null : f.fwhm.toFixed(2) + " px"; }],
    ["Elongation", "elong", function (f) { return f.elong == null ? null : f.elong.toFixed(2); }],
    ["classtar", "classtar: SExtractor star/galaxy score", function (f) { return f.classtar == null ? null : f.classtar.toFixed(2); }],
    ["sgscore1", "sgscore1: star-likeness of the nearest PS1 source (1 = star)", function (f) { return f.sgscore1 == null ? null : f.sgscore1.toFixed(2); }],
    ["distpsnr1", "distpsnr1: distance to the nearest PS1 source", function (f) { return f.distpsnr1 == null ? null : f.distpsnr1.toFixed(1) + "″"; }],
    ["Solar-system obj.", "ssdistnr (ssnamenr): nearest known solar-system object", function (f) {
      if (f.ssdistnr == null) return "none known";
      return f.ssdistnr.toFixed(1) + "″" + (f.ssnamenr ? " (" + f.ssnamenr + ")" : "");
    }],
    ["Detections", "ndethist", function (f) { return f.ndethist == null ? null : String(f.ndethist); }],
    ["Days since 1st det.", "jd − jdstarthist", function (f) { return f.days_since_first_detection == null ? null : f.days_since_first_detection.toFixed(1); }],
    ["Galactic lat. b", "Galactic latitude (astropy)", function (f) { return f.gal_b == null ? null : f.gal_b.toFixed(1) + "°"; }],
  ];

  function renderFields(subject) {
    var dl = $("#fields");
    dl.replaceChildren();
    FIELD_ROWS.forEach(function (row) {
      var value = row[2](subject.fields || {});
      dl.appendChild(el("dt", { title: row[1] }, row[0]));
      dl.appendChild(el("dd", {}, value == null ? "—" : value));
    });
  }

  // The active model's panel for this campaign's task (classifiers.selectors.score_panels), or null.
  function modelPanel(subject) {
    var m = subject.model;
    if (!m) return null;
    if (cfg.model_task === "streaks" && m.streaks) {
      return {
        score: m.streaks.score,
        version: m.streaks.version,
        verdict: m.streaks.plausible ? "plausible streak" : "no plausible streak",
        explanations: null,
      };
    }
    if (typeof m.score !== "number") return null;
    return {
      score: m.score,
      version: m.version,
      verdict: m.verdict ? m.verdict + " at threshold " + Number(m.threshold).toFixed(2) : "",
      explanations: m.explanations || null,
    };
  }

  function renderModel(subject) {
    var panel = modelPanel(subject);
    $("#model-card").hidden = !panel;
    if (panel) {
      $("#model-score").textContent = "Score " + panel.score.toFixed(2);
      $("#model-verdict").textContent = panel.verdict ? "· " + panel.verdict : "";
      $("#model-version").textContent = panel.version ? "Model " + panel.version + " (its opinion, not the answer)" : "";
      $("#model-bar").style.width = Math.round(Math.max(0, Math.min(1, panel.score)) * 100) + "%";
    }
    var kinds = C.explanationKinds(panel);
    $("#overlay-btn").hidden = !kinds.length;
    if (state.overlay && kinds.indexOf(state.overlay) < 0) state.overlay = null;
    C.applyOverlay();
  }

  function clearPlot() {
    var views = state.lcViews;
    state.lcViews = null;
    if (!views || !window.Bokeh) return;
    try {
      views.roots.forEach(function (view) {
        var doc = view.model && view.model.document;
        view.remove();
        if (doc && Bokeh.documents) {
          var i = Bokeh.documents.indexOf(doc);
          if (i >= 0) Bokeh.documents.splice(i, 1);
        }
      });
    } catch (e) { /* a plot that will not go quietly is replaced anyway */ }
  }

  // Flux or magnitude, where the survey offers both (Rubin): the buttons come with the figure's answer, each
  // with its URL. The viewer's choice holds for the next candidates that offer it.
  function renderScaleToggle(subject, data) {
    var box = $("#lc-scale");
    var scales = (data && data.scales) || [];
    box.replaceChildren();
    box.hidden = scales.length < 2;
    if (box.hidden) return;
    scales.forEach(function (s) {
      var btn = el("button", { type: "button", class: "seg-btn", "data-scale": s.scale, "aria-pressed": s.scale === data.scale ? "true" : "false" }, s.label);
      btn.addEventListener("click", function () {
        if (s.scale === data.scale) return;
        state.lcScale = s.scale;
        drawLightCurve(subject, fetchPlot(s.url));
      });
      box.appendChild(btn);
    });
  }

  function fetchPlot(url) {
    return Blink.fetchJSON(url)
      .then(function (r) { return r.ok ? r.body : null; })
      .catch(function () { return null; });
  }

  function renderLightCurve(subject) {
    if (!subject._lc) C.preload(subject);
    drawLightCurve(subject, subject._lc.then(function (data) {
      var wanted = data && state.lcScale && data.scale !== state.lcScale
        ? (data.scales || []).filter(function (s) { return s.scale === state.lcScale; })[0] : null;
      return wanted ? fetchPlot(wanted.url) : data;
    }));
  }

  function drawLightCurve(subject, plot) {
    var target = $("#light-curve");
    var token = ++state.lcToken;
    clearPlot();
    target.replaceChildren(el("p", { class: "muted small" }, "Loading…"));
    plot.then(function (data) {
      if (token !== state.lcToken) return;
      if (data && typeof data.pixel_scale_arcsec === "number") {
        subject._pixelScale = data.pixel_scale_arcsec;
        C.describeStamps(subject);
      }
      renderScaleToggle(subject, data);
      var item = data && (data.item || data.plot || data);
      if (!item || !item.doc || !window.Bokeh) {
        target.replaceChildren(el("p", { class: "muted small" }, "No light curve for this candidate."));
        return;
      }
      target.replaceChildren();
      // embed_item resolves the target by id and keeps its own copy of the document.
      Bokeh.embed.embed_item(JSON.parse(JSON.stringify(item)), "light-curve").then(function (views) {
        if (token !== state.lcToken) {
          state.lcViews = views;
          clearPlot();
          return;
        }
        state.lcViews = views;
        Blink.namePlot(target);
      }).catch(function () {
        if (token === state.lcToken) target.replaceChildren(el("p", { class: "muted small" }, "The light curve could not be drawn."));
      });
    });
  }

  function render(subject) {
    C.setPageState("ready");
    $("#empty-state").hidden = true;
    var link = $("#candidate-link");
    link.textContent = String(subject.candid);
    link.href = subject.alert_url;
    $("#object-id").textContent = subject.object_id;
    C.renderStamps(subject);
    renderFields(subject);
    renderModel(subject);
    renderLightCurve(subject);
    C.selectAnswer(null);
    state.panX = 0;
    state.panY = 0;
    C.applyTransform();
    state.shownAt = performance.now();
  }

  Object.assign(C, { modelPanel: modelPanel, render: render });
})(window.BlinkClassify);
