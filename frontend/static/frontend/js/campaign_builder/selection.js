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
    document.querySelectorAll("#selection-card [data-filter]").forEach(function (el) {
      var field = el.dataset.filter;
      var kind = el.dataset.kind || "number";
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
      } else if (kind === "date") {
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
    $("selection-json").value = JSON.stringify(spec || {}, null, 1);
    if (!representable) setJsonMode(true);
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

  function runPreview() {
    var seq = ++previewSeq;
    var selection;
    var selectionCard = $("selection-card");
    B.clearErrors(selectionCard);
    $("preview-error").textContent = "";
    try {
      selection = selectionFromForm();
    } catch (err) {
      $("preview-error").textContent = "The JSON filter is not valid JSON: " + err.message;
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
        $("preview-count").textContent = "–";
        $("preview-error").textContent = (res.body.field ? res.body.field + ": " : "") + res.body.detail;
        B.showError(res.body.field, res.body.detail);
        renderGrid([]);
        return;
      }
      $("preview-count").textContent = (res.body.count_exact ? "" : "≈ ") + Number(res.body.count).toLocaleString("en");
      $("preview-count-label").textContent = res.body.count === 1 ? "alert" : "alerts" + (sampleSize() ? " (sample)" : " match");
      $("preview-summary").textContent = res.body.summary;
      renderGrid(res.body.alerts);
    });
  }

  function renderGrid(alerts) {
    var grid = $("preview-grid");
    grid.innerHTML = "";
    alerts.forEach(function (a) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "preview-item";
      button.title = a.object_id + " · candid " + a.candid + " · " + a.night + " · " + a.filter + " " + (a.magpsf === null ? "" : a.magpsf.toFixed(2));
      button.dataset.candid = String(a.candid);
      var img = document.createElement("img");
      img.className = "stamp-thumb";
      img.loading = "lazy";
      img.alt = "difference stamp of " + a.object_id;
      img.src = a.stamp_url;
      button.appendChild(img);
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
    runPreview: runPreview,
  });
})(window.BlinkBuilder);
