// The alert page: stretch toggle for the three stamps, and the bokeh light curve from its JSON endpoint.
(function () {
  "use strict";

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

  function loadLightCurve() {
    var target = document.getElementById("lightcurve-plot");
    if (!target) return;
    Blink.fetchJSON(target.dataset.src)
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        target.innerHTML = "";
        return window.Bokeh.embed.embed_item(r.body, target.id);
      })
      .then(function () { Blink.namePlot(target); })
      .catch(function (err) {
        target.innerHTML = "";
        var p = document.createElement("p");
        p.className = "error";
        p.textContent = "The light curve could not be loaded (" + err.message + ").";
        target.appendChild(p);
      });
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
    loadLightCurve();
  });
})();
