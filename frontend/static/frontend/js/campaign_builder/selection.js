// The campaign builder's alert selection: the filter boxes (or its JSON), the sample, and a live preview of
// what they match; a click on a preview stamp makes it an example for the tutorial or the field guide.
(function (B) {
  "use strict";
  var $ = B.$;

  var previewSeq = 0;
  var previewTimer = null;

  function selectionFromForm() {
    if ($("json-mode").checked) {
      var text = $("selection-json").value.trim();
      if (!text) return {};
      return JSON.parse(text); // a syntax error is reported by the caller
    }
    var spec = {};
    var rubinHidden = $("rubin-fields").hidden;
    document.querySelectorAll("#selection-card [data-filter]").forEach(function (el) {
      var field = el.dataset.filter;
      var kind = el.dataset.kind || "number";
      // With "ZTF only" the Rubin boxes are hidden, and what they still hold must not filter unseen.
      if (rubinHidden && $("rubin-fields").contains(el)) return;
      if (kind === "bool-check") {
        if (el.checked) spec[field] = true;
        return;
      }
      var raw = (el.value || "").trim();
      if (raw === "") return;
      if (el.dataset.op) {
        spec[field] = spec[field] || {};
        spec[field][el.dataset.op] = kind === "int" ? parseInt(raw, 10) : Number(raw);
      } else if (kind === "int") {
        spec[field] = parseInt(raw, 10);
      } else if (kind === "bool") {
        spec[field] = raw === "true";
      } else if (kind === "date" || kind === "text") {
        spec[field] = raw;
      } else if (kind === "date-from" || kind === "date-to") {
        if (typeof spec[field] === "string") return; // a single night wins over a range
        spec[field] = spec[field] || {};
        spec[field][kind === "date-from" ? "from" : "to"] = raw;
      }
    });
    return spec;
  }

  // Fill the form from a stored spec; anything the boxes cannot show switches to JSON editing.
  function selectionToForm(spec) {
    var representable = true;
    document.querySelectorAll("#selection-card [data-filter]").forEach(function (el) {
      if (el.type === "checkbox") el.checked = false; else el.value = "";
    });
    Object.keys(spec || {}).forEach(function (field) {
      var value = spec[field];
      var boxes = document.querySelectorAll('#selection-card [data-filter="' + field + '"]');
      if (!boxes.length) { representable = false; return; }
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        Object.keys(value).forEach(function (op) {
          var box = document.querySelector('#selection-card [data-filter="' + field + '"][data-op="' + op + '"]') ||
            document.querySelector('#selection-card [data-filter="' + field + '"][data-kind="date-' + op + '"]');
          if (box) box.value = value[op]; else representable = false;
        });
      } else if (Array.isArray(value)) {
        representable = false;
      } else {
        var box = document.querySelector('#selection-card [data-filter="' + field + '"]:not([data-op]):not([data-kind^="date-"])');
        if (!box) { representable = false; return; }
        if (box.type === "checkbox") box.checked = !!value; else box.value = String(value);
      }
    });
    // "ZTF only" hides the Rubin boxes: a stored filter with both is shown as JSON, not half hidden.
    var rubinSet = Object.keys(spec || {}).some(function (f) { return $("rubin-fields").querySelector('[data-filter="' + f + '"]'); });
    if (spec && spec.survey === "ztf" && rubinSet) representable = false;
    $("selection-json").value = JSON.stringify(spec || {}, null, 1);
    updateSurveyFields();
    if (flagsSet()) $("pixel-flags").open = true;
    if (!representable) setJsonMode(true);
  }

  function flagsSet() {
    return [].filter.call($("pixel-flags").querySelectorAll("select"), function (el) { return el.value !== ""; }).length;
  }

  // Rubin's own boxes show for "all" and "Rubin only"; the pixel flags' summary says how many are set while closed.
  function updateSurveyFields() {
    $("rubin-fields").hidden = $("f-survey").value === "ztf";
    var n = flagsSet();
    $("pixel-flags-count").textContent = n ? "(" + n + " set)" : "(any)";
  }

  function setJsonMode(on) {
    $("json-mode").checked = on;
    $("selection-json").readOnly = !on;
    if (on) $("json-details").open = true;
    document.querySelectorAll("#selection-card .filter-grid input, #selection-card .filter-grid select").forEach(function (el) {
      el.disabled = on || selectionLocked();
    });
  }

  // A campaign's selection is fixed once it leaves the draft state.
  function selectionLocked() { return !!(B.campaign && B.campaign.state !== "draft"); }

  function sampleSize() {
    var raw = $("f-sample-size").value.trim();
    return raw === "" ? null : parseInt(raw, 10);
  }

  function sampleSeed() {
    var raw = $("f-sample-seed").value.trim();
    return raw === "" ? 0 : parseInt(raw, 10);
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, 250);
  }

  // A filter that cannot be read or is refused matches nothing we can show: the count, its split and the stamps
  // of the previous filter go, so no stale "1,291 alerts match" sits beside the error.
  function showNoPreview(message) {
    var preview = $("preview");
    preview.classList.remove("loading");
    preview.classList.add("stale");
    $("preview-count").textContent = "–";
    $("preview-count-label").textContent = "alerts: fix the filter to see how many match";
    $("preview-summary").textContent = "";
    $("preview-split").textContent = "";
    $("preview-surveys").textContent = "";
    $("preview-error").textContent = message;
    renderGrid([]);
  }

  function count(n) { return Number(n).toLocaleString("en"); }

  // "140 alerts: 54 real survey alerts, 86 synthetic demo alerts" — the demo generator's rings and streaks are
  // not the sky, and a scientist should see how much of a selection they are.
  function splitText(body) {
    if (body.count_demo === null || body.count_demo === undefined) {
      return body.count_exact ? "" : "Real and demo alerts not counted separately (estimate).";
    }
    if (!body.count) return "";
    var of = sampleSize() ? "Of the sample: " : "";
    if (!body.count_demo) return of + "all real survey alerts.";
    if (!body.count_survey) return of + "all synthetic demo alerts (the demo generator's, not the sky; dashed frames).";
    return of + count(body.count_survey) + " real survey " + (body.count_survey === 1 ? "alert" : "alerts") + ", " +
      count(body.count_demo) + " synthetic demo " + (body.count_demo === 1 ? "alert" : "alerts") +
      " (dashed frames below).";
  }

  // "By survey: 112 ZTF, 127 Rubin": where a selection's matches come from, each survey named (0 included).
  function surveysText(body) {
    var by = body.count_by_survey;
    if (!by || !body.count) return "";
    return "By survey: " + [["ztf", "ZTF"], ["rubin", "Rubin"]].map(function (s) {
      return count(by[s[0]] || 0) + " " + s[1];
    }).join(", ") + (sampleSize() ? " in the sample" : "");
  }

  function runPreview() {
    var seq = ++previewSeq; // answers to earlier filters are dropped from here on
    var selection;
    updateSurveyFields();
    var selectionCard = $("selection-card");
    B.clearErrors(selectionCard);
    $("preview-error").textContent = "";
    try {
      selection = selectionFromForm();
    } catch (err) {
      showNoPreview("The JSON filter is not valid JSON: " + err.message);
      B.showError("selection", "not valid JSON: " + err.message);
      return;
    }
    if (!$("json-mode").checked) $("selection-json").value = JSON.stringify(selection, null, 1);
    $("preview").classList.add("loading");
    B.api("POST", B.urls.preview, {
      selection: selection, sample_size: sampleSize(), sample_seed: sampleSeed(), n: 24,
    }).then(function (res) {
      if (seq !== previewSeq) return; // a newer filter is on its way
      $("preview").classList.remove("loading");
      if (!res.ok) {
        showNoPreview((res.body.field ? res.body.field + ": " : "") + res.body.detail);
        B.showError(res.body.field, res.body.detail);
        return;
      }
      $("preview").classList.remove("stale");
      $("preview-count").textContent = (res.body.count_exact ? "" : "≈ ") + count(res.body.count);
      $("preview-count-label").textContent = res.body.count === 1 ? "alert" : "alerts" + (sampleSize() ? " (sample)" : " match");
      $("preview-summary").textContent = res.body.summary;
      $("preview-split").textContent = splitText(res.body);
      $("preview-surveys").textContent = surveysText(res.body);
      renderGrid(res.body.alerts);
    });
  }

  function renderGrid(alerts) {
    var grid = $("preview-grid");
    grid.innerHTML = "";
    alerts.forEach(function (a) {
      var button = document.createElement("button");
      button.type = "button";
      var rubin = a.survey === "rubin";
      button.className = "preview-item" + (a.is_demo ? " demo" : "") + (rubin ? " rubin" : "");
      button.dataset.survey = a.survey;
      button.title = (a.is_demo ? "synthetic demo alert · " : "") + (rubin ? "Rubin · " : "ZTF · ") + a.object_id + " · candid " + a.candid + " · " +
        a.night + " · " + a.filter + " " + (a.magpsf === null ? "" : a.magpsf.toFixed(2));
      button.dataset.candid = String(a.candid);
      var img = document.createElement("img");
      img.className = "stamp-thumb";
      img.loading = "lazy";
      img.alt = "Difference cutout of " + a.object_id + ", linear stretch";
      img.src = a.stamp_url;
      button.appendChild(img);
      if (rubin) {
        var mark = document.createElement("span");
        mark.className = "survey-mark";
        mark.setAttribute("aria-hidden", "true");
        mark.textContent = "R";
        button.appendChild(mark);
      }
      button.addEventListener("click", function () { useAsExample(String(a.candid)); });
      grid.appendChild(button);
    });
  }

  function useAsExample(candid) {
    var target = B.lastExampleTarget || $("t-example");
    if (!target) {
      $("save-status").textContent = "Save the draft first to use examples in the tutorial and field guide.";
      return;
    }
    if (target.id === "g-examples") {
      var list = B.listOf(target.value);
      if (list.indexOf(String(candid)) < 0) list.push(String(candid));
      target.value = list.join(", ");
    } else {
      target.value = candid;
    }
    target.classList.add("flash");
    setTimeout(function () { target.classList.remove("flash"); }, 600);
  }

  Object.assign(B, {
    selectionFromForm: selectionFromForm,
    selectionToForm: selectionToForm,
    setJsonMode: setJsonMode,
    selectionLocked: selectionLocked,
    sampleSize: sampleSize,
    sampleSeed: sampleSeed,
    schedulePreview: schedulePreview,
    updateSurveyFields: updateSurveyFields,
    runPreview: runPreview,
  });
})(window.BlinkBuilder);
