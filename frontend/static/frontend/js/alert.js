// The alert page: stretch toggle for the three stamps, the variance and PSF planes on request (Rubin), and the
// bokeh light curve from its JSON endpoint, in flux or magnitude where the survey offers both.
(function () {
  "use strict";

  var plotViews = null;
  var plotToken = 0;

  function setStretch(stretch) {
    var box = document.getElementById("stamps");
    if (!box) return;
    var size = box.dataset.size;
    box.querySelectorAll("img.alert-stamp").forEach(function (img) {
      img.src = img.dataset.src + "?stretch=" + encodeURIComponent(stretch) + "&size=" + encodeURIComponent(size);
      img.alt = img.alt.replace(/, \w+ stretch$/, ", " + stretch + " stretch");
    });
    document.querySelectorAll(".stretch-btn").forEach(function (btn) {
      btn.setAttribute("aria-pressed", btn.dataset.stretch === stretch ? "true" : "false");
    });
  }

  function clearPlot() {
    var views = plotViews;
    plotViews = null;
    Blink.removePlot(views);
  }

  function loadLightCurve(src) {
    var target = document.getElementById("lightcurve-plot");
    if (!target) return;
    var token = ++plotToken;
    Blink.fetchJSON(src || target.dataset.src)
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        if (token !== plotToken) return null;
        clearPlot();
        target.innerHTML = "";
        target.dataset.scale = r.body.scale || "";
        return window.Bokeh.embed.embed_item(r.body, target.id);
      })
      .then(function (views) {
        if (!views) return;
        if (token !== plotToken) { plotViews = views; clearPlot(); return; }
        plotViews = views;
        Blink.namePlot(target);
      })
      .catch(function (err) {
        if (token !== plotToken) return;
        target.innerHTML = "";
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = "The light curve could not be loaded (" + err.message + ").";
        target.appendChild(p);
      });
  }

  // Flux or magnitude: the buttons carry their figure's URL.
  function setScale(btn) {
    document.querySelectorAll(".lc-scale-btn").forEach(function (b) {
      b.setAttribute("aria-pressed", b === btn ? "true" : "false");
    });
    document.querySelectorAll(".lc-help").forEach(function (p) {
      p.hidden = p.dataset.scale !== btn.dataset.scale;
    });
    loadLightCurve(btn.dataset.src);
  }

  // The planes load only when asked for: most volunteers never open them.
  function togglePlanes(btn) {
    var box = document.getElementById(btn.getAttribute("aria-controls"));
    var open = btn.getAttribute("aria-expanded") !== "true";
    box.querySelectorAll("img.plane-img").forEach(function (img) {
      if (open && !img.getAttribute("src")) img.src = img.dataset.src;
    });
    box.hidden = !open;
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.textContent = open ? "Hide variance and PSF planes" : "Show variance and PSF planes";
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".stretch-btn").forEach(function (btn) {
      btn.addEventListener("click", function () { setStretch(btn.dataset.stretch); });
    });
    // l / g / a switch the stretch from the keyboard (linear, log, asinh), unless typing in a field.
    document.addEventListener("keydown", function (e) {
      if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|TEXTAREA|SELECT)$/.test(e.target.tagName)) return;
      var key = { l: "linear", g: "log", a: "asinh" }[e.key];
      if (key) setStretch(key);
    });
    document.querySelectorAll(".lc-scale-btn").forEach(function (btn) {
      btn.addEventListener("click", function () { setScale(btn); });
    });
    var planes = document.getElementById("planes-toggle");
    if (planes) planes.addEventListener("click", function () { togglePlanes(planes); });
    loadLightCurve();
  });
})();
