/* Blink classify page.
 *
 * No waiting: a local queue of about five subjects is fetched ahead (refilled in the background when it runs
 * low) and their stamps preloaded, so a vote shows the next candidate at once. Votes go to BlinkOutbox
 * (outbox.js), which sends them in the background and retries failures; the page never waits for the server.
 * A subject is never shown twice: the page remembers what it sent votes for (the server excludes what it has
 * stored; the page also excludes what is still waiting in the outbox or in its own queue).
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("classify-config").textContent);
  var Outbox = window.BlinkOutbox;
  window.BLINK_CSRF = cfg.csrf;

  var OVERLAY_NAMES = { gradcam: "Grad-CAM", saliency: "saliency" };
  var QUEUE_TARGET = 5;
  var REFILL_BELOW = 3;
  var ZOOMS = [1, 2, 4];
  var STRETCHES = ["linear", "log", "asinh"];
  var VOTED_KEY = "blink.voted." + cfg.slug;
  var STRETCH_KEY = "blink.stretch";
  var MAX_REMEMBERED = 2000;

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $$(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  var el = Blink.el;
  function readJSON(storage, key, fallback) {
    try {
      var v = JSON.parse(storage.getItem(key));
      return v === null ? fallback : v;
    } catch (e) {
      return fallback;
    }
  }
  function writeJSON(storage, key, value) {
    try { storage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode: memory is enough */ }
  }

  var answers = {};
  var answerByKey = {};
  cfg.answers.forEach(function (a) {
    answers[a.key] = a;
    if (a.shortcut) answerByKey[a.shortcut] = a.key;
  });

  var state = {
    queue: [],
    current: null,
    answer: null,
    shownAt: 0,
    fetching: null,
    exhausted: false,
    fetchFailures: 0,
    voted: readJSON(window.localStorage, VOTED_KEY, []),
    stretch: STRETCHES.indexOf(readJSON(window.localStorage, STRETCH_KEY, "linear")) >= 0
      ? readJSON(window.localStorage, STRETCH_KEY, "linear") : "linear",
    zoom: 1,
    panX: 0,
    panY: 0,
    overlay: null,
    serverCount: cfg.stats.classifications,
    liveCount: cfg.progress.classifications,
    lcToken: 0,
    lcViews: null,
  };
  var votedSet = {};
  state.voted.forEach(function (id) { votedSet[id] = true; });

  var root = $("#classify");
  var feedback = $("#feedback");
  var outboxStatus = $("#outbox-status");

  function setPageState(name) { root.setAttribute("data-state", name); }
  function say(text, tone) {
    feedback.textContent = text || "";
    feedback.className = "feedback" + (tone ? " feedback-" + tone : "");
  }

  /* ------------------------------------------------------------------ queue */

  function rememberVoted(id) {
    if (votedSet[id]) return;
    votedSet[id] = true;
    state.voted.push(id);
    if (state.voted.length > MAX_REMEMBERED) {
      var dropped = state.voted.splice(0, state.voted.length - MAX_REMEMBERED);
      dropped.forEach(function (d) { delete votedSet[d]; });
    }
    writeJSON(window.localStorage, VOTED_KEY, state.voted);
  }

  function pendingHere() {
    return Outbox.pending().filter(function (it) { return it.meta && it.meta.slug === cfg.slug; });
  }

  function knownIds() {
    var ids = {};
    state.queue.forEach(function (s) { ids[s.id] = true; });
    if (state.current) ids[state.current.id] = true;
    pendingHere().forEach(function (it) { ids[it.body.subject] = true; });
    // The server already excludes stored votes; the most recent ones may still be on their way.
    state.voted.slice(-200).forEach(function (id) { ids[id] = true; });
    return Object.keys(ids).slice(0, 450);
  }

  function stampSrc(subject, kind, stretch) {
    return subject.stamps[kind] + "?stretch=" + (stretch || state.stretch);
  }

  function preload(subject) {
    subject._images = subject._images || {};
    ["science", "template", "difference"].forEach(function (kind) {
      var src = stampSrc(subject, kind);
      if (subject._images[src]) return;
      var img = new Image();
      img.decoding = "async";
      img.src = src;
      subject._images[src] = img; // keep a reference until shown, so the browser keeps it
    });
    if (!subject._lc && subject.light_curve_url) {
      subject._lc = Blink.fetchJSON(subject.light_curve_url)
        .then(function (r) { return r.ok ? r.body : null; })
        .catch(function () { return null; });
    }
  }

  function refill() {
    if (state.fetching) return state.fetching;
    var need = QUEUE_TARGET - state.queue.length;
    if (need <= 0) return Promise.resolve();
    var url = cfg.api.next + "?n=" + need + "&exclude=" + knownIds().join(",");
    state.fetching = Blink.fetchJSON(url)
      .then(function (r) {
        if (!r.ok) {
          var err = new Error((r.body && r.body.detail) || "the server answered " + r.status);
          err.status = r.status;
          throw err;
        }
        return r.body;
      })
      .then(function (data) {
        state.fetchFailures = 0;
        var fresh = (data.subjects || []).filter(function (s) {
          if (votedSet[s.id]) return false;
          if (state.current && state.current.id === s.id) return false;
          return !state.queue.some(function (q) { return q.id === s.id; });
        });
        fresh.forEach(function (s) { state.queue.push(s); preload(s); });
        state.exhausted = !data.subjects || data.subjects.length === 0;
      })
      .catch(function (err) {
        state.fetchFailures += 1;
        if (err && (err.status === 403 || err.status === 404)) {
          state.exhausted = true;
          say(err.message, "bad");
        }
      })
      .then(function () { state.fetching = null; });
    return state.fetching;
  }

  function showNext() {
    state.current = state.queue.shift() || null;
    if (state.current) {
      render(state.current);
      if (state.queue.length < REFILL_BELOW) refill();
      return;
    }
    setPageState("loading");
    refill().then(function () {
      if (state.current) return;
      if (state.queue.length) {
        showNext();
      } else if (state.exhausted && !pendingHere().length) {
        setPageState("empty");
        $("#empty-state").hidden = false;
      } else {
        // A fetch failed, or votes are still on their way: try again shortly, calmly.
        var wait = Math.min(10000, 1000 * Math.pow(2, Math.min(state.fetchFailures, 4)));
        if (state.fetchFailures) say("Waiting for the server… retrying.", "quiet");
        setTimeout(showNext, state.exhausted ? 2000 : wait);
      }
    });
  }

  /* ------------------------------------------------------------------ rendering */

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
    var kinds = panel && panel.explanations ? Object.keys(panel.explanations) : [];
    $("#overlay-btn").hidden = !kinds.length;
    if (state.overlay && kinds.indexOf(state.overlay) < 0) state.overlay = null;
    applyOverlay();
  }

  // An explanation PNG holds the three stamps side by side (science, reference, difference) with the map laid
  // over them; each stamp frame shows its own third, so zoom and pan move it with the stamp.
  function applyOverlay() {
    var subject = state.current;
    var panel = subject && modelPanel(subject);
    var explanation = panel && panel.explanations && state.overlay ? panel.explanations[state.overlay] : null;
    var layers = $$("#triptych .overlay");
    $("#overlay-btn").setAttribute("aria-pressed", explanation ? "true" : "false");
    $("#overlay-label").textContent = "Model explanation: " + (explanation ? OVERLAY_NAMES[state.overlay] || state.overlay : "off");
    $("#overlay-btn").title = explanation ? explanation.title : "Show where the model looked";
    if (!explanation) {
      layers.forEach(function (layer) { layer.hidden = true; });
      return;
    }
    var img = new Image();
    img.onload = function () {
      if (state.current !== subject || !state.overlay) return;
      var w = img.naturalWidth;
      var h = img.naturalHeight;
      var gap = Math.max(0, (w - 3 * h) / 2);
      layers.forEach(function (layer, i) {
        layer.style.backgroundImage = "url(" + JSON.stringify(explanation.url) + ")";
        layer.style.backgroundSize = (100 * w / h) + "% 100%";
        layer.style.backgroundPosition = (w > h ? (100 * i * (h + gap) / (w - h)) : 0) + "% 0";
        layer.hidden = false;
      });
    };
    img.onerror = function () { say("The model explanation could not be loaded.", "quiet"); };
    img.src = explanation.url;
  }

  function renderStamps(subject) {
    $$("#triptych img.stamp").forEach(function (img) {
      var kind = img.getAttribute("data-kind");
      var frame = img.closest(".stamp-frame");
      var missing = $(".stamp-missing", frame);
      var wanted = stampSrc(subject, kind);
      missing.hidden = true;
      // Only the image we want now counts: a replaced, half-loaded one may still report an error.
      img.onload = function () { missing.hidden = true; };
      img.onerror = function () {
        setTimeout(function () {
          if (img.getAttribute("src") === wanted && !(img.complete && img.naturalWidth > 0)) missing.hidden = false;
        }, 0);
      };
      img.src = wanted;
    });
    $("#stretch-name").textContent = state.stretch;
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

  function renderLightCurve(subject) {
    var target = $("#light-curve");
    var token = ++state.lcToken;
    clearPlot();
    target.replaceChildren(el("p", { class: "muted small" }, "Loading…"));
    if (!subject._lc) preload(subject);
    subject._lc.then(function (data) {
      if (token !== state.lcToken) return;
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
      }).catch(function () {
        if (token === state.lcToken) target.replaceChildren(el("p", { class: "muted small" }, "The light curve could not be drawn."));
      });
    });
  }

  function render(subject) {
    setPageState("ready");
    $("#empty-state").hidden = true;
    var link = $("#candidate-link");
    link.textContent = String(subject.candid);
    link.href = subject.alert_url;
    $("#object-id").textContent = subject.object_id;
    renderStamps(subject);
    renderFields(subject);
    renderModel(subject);
    renderLightCurve(subject);
    selectAnswer(null);
    state.panX = 0;
    state.panY = 0;
    applyTransform();
    state.shownAt = performance.now();
  }

  /* ------------------------------------------------------------------ answering */

  function selectAnswer(key) {
    state.answer = key;
    $$("#answers .answer").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-answer") === key ? "true" : "false");
    });
    if (key) say("Your answer: " + answers[key].label + ". Press Enter (Done) to send it.", "quiet");
  }

  function answerHint() {
    return cfg.answers.filter(function (a) { return a.shortcut; })
      .map(function (a) { return a.shortcut + " " + a.label; }).join(", ");
  }

  function done(talk) {
    var subject = state.current;
    if (!subject) return;
    if (!state.answer) {
      say("Choose an answer first (" + answerHint() + ").", "bad");
      return;
    }
    var body = {
      subject: subject.id,
      answer: state.answer,
      idempotency_key: Outbox.uuid(),
      duration_ms: Math.max(0, Math.min(86400000, Math.round(performance.now() - state.shownAt))),
    };
    rememberVoted(subject.id);
    Outbox.add({
      url: cfg.api.votes,
      body: body,
      meta: { slug: cfg.slug, candid: subject.candid, answerLabel: answers[state.answer].label },
    });
    renderMyCount();
    if (talk) {
      setPageState("leaving");
      say("Vote sent. Opening the discussion of " + subject.candid + "…", "quiet");
      Outbox.sendNow(body.idempotency_key, 2500).then(function () {
        window.location.assign(subject.talk_url + "?campaign=" + encodeURIComponent(cfg.slug));
      });
      return;
    }
    showNext();
  }

  /* ------------------------------------------------------------------ outbox feedback and stats */

  function percent(x) { return Math.round(x * 100) + "%"; }

  function renderStats(stats) {
    if (!stats) return;
    state.serverCount = stats.classifications;
    renderMyCount();
    var c = stats.consensus || {};
    $("#my-consensus").textContent = stats.consensus_agreement == null
      ? "— (needs others' votes)"
      : percent(stats.consensus_agreement) + " (" + c.agreed + " of " + c.compared + ")";
    var g = stats.gold || {};
    $("#my-gold").textContent = stats.gold_agreement == null
      ? "—"
      : percent(stats.gold_agreement) + " (" + g.agreed + " of " + g.compared + ")";
  }

  function renderMyCount() {
    $("#my-count").textContent = String(state.serverCount + pendingHere().length);
  }

  function renderProgress(p) {
    if (!p) return;
    if (typeof p.classifications === "number" && p.classifications > state.liveCount) state.liveCount = p.classifications;
    $("#live-count").textContent = state.liveCount.toLocaleString();
    $("#live-count-unit").textContent = state.liveCount === 1 ? "classification" : "classifications";
    var bar = $("#campaign-progress");
    if (p.subjects) {
      bar.max = p.subjects;
      bar.value = p.retired;
      $("#retired-text").textContent = p.percent_retired + "% of " + p.subjects.toLocaleString() + " candidates done";
    }
  }

  function renderOutboxStatus(items) {
    var mine = (items || Outbox.pending()).filter(function (it) { return it.meta && it.meta.slug === cfg.slug; });
    var failing = mine.filter(function (it) { return it.tries > 0; });
    if (!failing.length) {
      outboxStatus.textContent = "";
      outboxStatus.className = "outbox-status";
    } else {
      var login = failing.some(function (it) { return it.lastError === "login"; });
      outboxStatus.textContent = failing.length + " vote" + (failing.length === 1 ? "" : "s") +
        " waiting to be sent — " + (login ? "please log in again in another tab; retrying" : "retrying");
      outboxStatus.className = "outbox-status outbox-waiting";
    }
    renderMyCount();
  }

  Outbox.on("change", renderOutboxStatus);
  Outbox.on("stored", function (item, data) {
    if (!data || !item.meta || item.meta.slug !== cfg.slug) return;
    renderStats(data.stats);
    renderProgress(data.progress);
    if (data.gold) {
      var agreed = data.gold.agreed;
      var box = $("#gold-feedback");
      box.hidden = false;
      box.className = "gold-feedback " + (agreed ? "gold-agreed" : "gold-differed");
      box.textContent = "The experts said: " + data.gold.label + " (candidate " + item.meta.candid + ")" +
        (agreed ? " — you agree. Well spotted!" : " — you said " + item.meta.answerLabel + ". Have a look at the field guide.") +
        (data.gold.note ? " " + data.gold.note : "");
    }
  });
  Outbox.on("rejected", function (item, status, data) {
    if (!item.meta || item.meta.slug !== cfg.slug) return;
    var why = (data && data.detail) || ("the server answered " + status);
    if (data && data.code === "duplicate") return; // already stored from another tab: nothing lost
    if (data && data.code === "retired") {
      say("Candidate " + item.meta.candid + " had enough votes before yours arrived — thank you all the same.", "quiet");
    } else {
      say("Your vote on " + item.meta.candid + " was not accepted: " + why, "bad");
    }
    renderMyCount();
  });

  /* ------------------------------------------------------------------ zoom, pan, stretch, overlay */

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
    root.classList.toggle("zoomed", state.zoom > 1);
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
    writeJSON(window.localStorage, STRETCH_KEY, name);
    $$(".seg-btn").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-stretch") === name ? "true" : "false");
    });
    if (state.current) renderStamps(state.current);
    state.queue.forEach(preload);
  }

  function cycleStretch() {
    setStretch(STRETCHES[(STRETCHES.indexOf(state.stretch) + 1) % STRETCHES.length]);
  }

  // e cycles: Grad-CAM, saliency (whatever the model offers), off.
  function toggleOverlay() {
    if ($("#overlay-btn").hidden || !state.current) return;
    var panel = modelPanel(state.current);
    var kinds = panel && panel.explanations ? Object.keys(panel.explanations) : [];
    var at = kinds.indexOf(state.overlay);
    state.overlay = at + 1 < kinds.length ? kinds[at + 1] : null;
    applyOverlay();
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

  /* ------------------------------------------------------------------ tutorial, field guide, help */

  var tutorial = { index: 0, markedSeen: cfg.tutorial_seen };

  function exampleTriptych(example, size) {
    var wrap = el("div", { class: "mini-triptych" });
    [["science", "Science"], ["template", "Reference"], ["difference", "Difference"]].forEach(function (k) {
      var fig = el("figure", {});
      var img = el("img", {
        class: "stamp stamp-" + size,
        alt: k[1] + " image of candidate " + example.candid,
        loading: "lazy",
        src: example.stamps[k[0]] + "?stretch=" + state.stretch,
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
    if (!active || active === document.body || !root.contains(active)) $("#task").focus({ preventScroll: true });
  }

  /* ------------------------------------------------------------------ live counter */

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
        renderProgress(msg);
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

  /* ------------------------------------------------------------------ keyboard and buttons */

  var TOOL_ACTIONS = {
    zoom: cycleZoom,
    stretch: cycleStretch,
    explanation: toggleOverlay,
    "field guide": openGuide,
    "done & talk": function () { done(true); },
    "reset zoom": resetZoom,
    help: openHelp,
  };

  document.addEventListener("keydown", function (ev) {
    if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (document.querySelector("dialog[open]")) return;
    var t = ev.target;
    if (t && t.closest && t.closest("input, textarea, select, [contenteditable=true]")) return;
    if (root.getAttribute("data-state") === "leaving") return;
    var key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    if (key === "Enter") {
      if (t && t.closest && t.closest("button, a, summary")) return; // the focused control's own action
      ev.preventDefault();
      done(ev.shiftKey);
      return;
    }
    if (answerByKey[key] && state.current) {
      ev.preventDefault();
      selectAnswer(answerByKey[key]);
      return;
    }
    var tool = cfg.tool_keys[key] || (key === "?" ? "help" : null);
    if (tool && TOOL_ACTIONS[tool]) {
      ev.preventDefault();
      TOOL_ACTIONS[tool]();
      return;
    }
    if (state.zoom > 1 && /^Arrow/.test(ev.key)) {
      var step = frameSize() / 8;
      var d = { ArrowLeft: [step, 0], ArrowRight: [-step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] }[ev.key];
      ev.preventDefault();
      pan(d[0], d[1]);
    }
  });

  $$("#answers .answer").forEach(function (b) {
    b.addEventListener("click", function () { selectAnswer(b.getAttribute("data-answer")); });
  });
  $("#done-btn").addEventListener("click", function () { done(false); });
  $("#done-talk-btn").addEventListener("click", function () { done(true); });
  $("#zoom-btn").addEventListener("click", cycleZoom);
  $("#zoom-reset").addEventListener("click", resetZoom);
  $("#overlay-btn").addEventListener("click", toggleOverlay);
  $$(".seg-btn").forEach(function (b) {
    b.addEventListener("click", function () { setStretch(b.getAttribute("data-stretch")); });
  });
  $("#open-tutorial").addEventListener("click", openTutorial);
  $("#open-guide").addEventListener("click", openGuide);
  $("#help-link").addEventListener("click", openGuide);
  $("#open-help").addEventListener("click", openHelp);
  window.addEventListener("resize", applyTransform);

  /* ------------------------------------------------------------------ start */

  setStretch(state.stretch);
  renderStats(cfg.stats);
  renderProgress(cfg.progress);
  renderOutboxStatus();
  showNext();
  connectLive(0);
  if (!cfg.tutorial_seen && cfg.tutorial.length) openTutorial();
  else focusTask();
})();
