// The ML lead console: embeds the bokeh plots and drives the disagreement selection. No inline script:
// plot JSON comes from <script type="application/json"> blocks written by Django's json_script.
(function () {
  "use strict";

  function embedPlots() {
    if (typeof window.Bokeh === "undefined") return;
    document.querySelectorAll("[data-bokeh]").forEach(function (el) {
      var source = document.getElementById(el.dataset.bokeh);
      if (!source) return;
      var item = JSON.parse(source.textContent);
      if (!item) return;
      window.Bokeh.embed.embed_item(item, el.id).then(function () {
        Blink.namePlot(el);
        el.dataset.rendered = "true";
      });
    });
  }

  function disagreementSelection() {
    var form = document.getElementById("send-form");
    if (!form) return;
    var picks = Array.prototype.slice.call(form.querySelectorAll("input.pick"));
    var button = document.getElementById("send-button");
    var count = document.getElementById("picked-count");
    var all = document.getElementById("select-all");
    var name = document.getElementById("new-name");

    function refresh() {
      var n = picks.filter(function (p) { return p.checked; }).length;
      picks.forEach(function (p) { p.closest(".cand").classList.toggle("selected", p.checked); });
      if (count) count.textContent = n + " selected";
      if (button) button.disabled = n === 0;
      if (all) all.textContent = n === picks.length && n > 0 ? "Select none" : "Select all";
    }
    picks.forEach(function (p) { p.addEventListener("change", refresh); });
    if (all) {
      all.addEventListener("click", function () {
        var every = picks.every(function (p) { return p.checked; });
        picks.forEach(function (p) { p.checked = !every; });
        refresh();
      });
    }
    form.querySelectorAll("input[name=target]").forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (name) name.required = form.querySelector("input[name=target]:checked").value === "new";
      });
    });
    // Choosing a field of a fieldset selects that fieldset's target.
    form.querySelectorAll(".actionbar fieldset").forEach(function (fs) {
      fs.addEventListener("focusin", function () {
        var radio = fs.querySelector("input[name=target]");
        if (radio && !radio.checked) { radio.checked = true; radio.dispatchEvent(new Event("change")); }
      });
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", function () {
    embedPlots();
    disagreementSelection();
  });
})();
