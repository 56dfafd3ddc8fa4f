// The campaign dashboard: embeds the classifications-per-day bokeh plot delivered as JSON in the page.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var source = document.getElementById("per-day-plot");
    var target = document.getElementById("per-day");
    if (!source || !target || !window.Bokeh) return;
    window.Bokeh.embed.embed_item(JSON.parse(source.textContent), "per-day").then(function () {
      Blink.namePlot(target);
    });
  });
})();
