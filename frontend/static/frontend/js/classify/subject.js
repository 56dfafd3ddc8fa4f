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

  // A Rubin candidate's rows: a flux in nJy and its S/N where ZTF has SExtractor's and PS1's measures, which
  // Rubin does not send (no rows of dashes for them). No reliability: it is a model's verdict, as rb/drb are.
  var RUBIN_ROWS = [
    ["Flux (PSF)", "psfFlux ± psfFluxErr in the difference image, nJy", function (f) {
      return f.flux_njy == null ? null : Math.round(f.flux_njy) + (f.flux_err_njy == null ? "" : " ± " + Math.round(f.flux_err_njy)) + " nJy";
    }],
    ["Magnitude (AB)", "31.4 − 2.5 log10(|flux| / nJy) ± 1σ", function (f) { return f.magpsf == null ? null : f.magpsf.toFixed(2) + (f.sigmapsf == null ? "" : " ± " + f.sigmapsf.toFixed(2)); }],
    ["S/N", "snr: signal-to-noise ratio of the detection", function (f) { return f.snr == null ? null : f.snr.toFixed(1); }],
    ["Band", "Rubin band (u, g, r, i, z or y)", function (f) { return f.band || null; }],
    ["Positive subtr.", "isdiffpos", FIELD_ROWS[1][2]],
    ["Solar-system obj.", "known solar-system object matched", function (f) { return f.ssnamenr || "none known"; }],
    ["Detections", "diaObject.nDiaSources", FIELD_ROWS[8][2]],
    ["Days since 1st det.", "since diaObject.firstDiaSourceMjdTai", FIELD_ROWS[9][2]],
    ["Galactic lat. b", "Galactic latitude (astropy)", FIELD_ROWS[10][2]],
  ];

  function renderFields(subject) {
    var dl = $("#fields");
    dl.replaceChildren();
    (subject.survey === "rubin" ? RUBIN_ROWS : FIELD_ROWS).forEach(function (row) {
      var value = row[2](subject.fields || {});
      dl.appendChild(el("dt", { title: row[1] }, row[0]));
      dl.appendChild(el("dd", {}, value == null ? "—" : value));
    });
  }

  // Where north and east are on the stamps, in the alert page's words (frontend.views.alerts.orientation_text):
  // ZTF's are north up, east left; Rubin's lie as the detector did, turned as the cutout's WCS says.
  function orientationText(subject) {
    if (subject.survey !== "rubin") return "north up, east left";
    var o = subject.cutout_orientation;
    if (!o || typeof o.north_deg !== "number") return "detector orientation (not rotated to north)";
    var turn = Math.round(Math.abs(o.north_deg));
    var north = turn === 0 ? "north up" : turn === 180 ? "north down"
      : "north " + turn + "° " + (o.north_deg > 0 ? "anticlockwise" : "clockwise") + " from up";
    return "detector orientation: " + north + ", east " + (o.east_left ? "left" : "right");
  }

  function renderOrientation(subject) {
    var text = orientationText(subject);
    $("#stamp-orientation").textContent = text;
    var compass = $("#compass");
    var o = subject.cutout_orientation;
    compass.hidden = subject.survey !== "rubin" || !o || typeof o.north_deg !== "number";
    if (compass.hidden) return;
    compass.setAttribute("aria-label", "Compass: " + text);
    compass.title = text;
    compass.classList.toggle("east-right", !o.east_left);
    // CSS turns clockwise; north is measured anticlockwise.
    $(".compass-rose", compass).style.setProperty("--turn", (-o.north_deg).toFixed(1) + "deg");
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
    Blink.removePlot(views);
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
    renderOrientation(subject);
    renderFields(subject);
    renderModel(subject);
    renderLightCurve(subject);
    C.selectAnswer(null);
    state.panX = 0;
    state.panY = 0;
    C.applyTransform();
    state.shownAt = performance.now();
  }

  Object.assign(C, { modelPanel: modelPanel, orientationText: orientationText, render: render });
})(window.BlinkClassify);
