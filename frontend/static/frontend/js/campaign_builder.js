// The campaign builder: the form, a live preview of the alert selection, classes, tutorial, field guide, state.
// Every write goes through the campaign API, the same path scripts use; the page hands over its URLs (data.urls)
// and each tutorial step or field-guide entry carries its own.
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("builder-data").textContent);
  var slug = data.slug;
  var urls = data.urls;
  var campaign = null;
  var previewSeq = 0;
  var previewTimer = null;
  var lastExampleTarget = null;

  function $(id) { return document.getElementById(id); }

  function api(method, url, body) {
    return Blink.fetchJSON(url, { method: method, body: body, parse: parseExact });
  }

  // ZTF candids are 64-bit integers, beyond what a JavaScript number holds exactly (2^53): JSON.parse would
  // round 3454420621301015004 to ...5000. Integers of 16+ digits are read as strings instead (the API accepts
  // candids as strings of digits too).
  var NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

  function parseExact(text) {
    var out = "";
    var i = 0;
    while (i < text.length) {
      var ch = text[i];
      if (ch === '"') { // copy a string literal untouched, escapes included
        var j = i + 1;
        while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
        out += text.slice(i, j + 1);
        i = j + 1;
      } else if (ch === "-" || (ch >= "0" && ch <= "9")) {
        NUMBER.lastIndex = i;
        var token = NUMBER.exec(text)[0];
        out += /^-?\d{16,}$/.test(token) ? '"' + token + '"' : token;
        i += token.length;
      } else {
        out += ch;
        i += 1;
      }
    }
    return JSON.parse(out);
  }

  // ---------------------------------------------------------------------------------------- errors

  function clearErrors(scope) {
    (scope || document).querySelectorAll(".field-error").forEach(function (p) { p.textContent = ""; });
    (scope || document).querySelectorAll("[aria-invalid=true]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function showError(field, message, prefix) {
    var name = (prefix || "") + (field || "");
    // "selection.rb" and "classes[1].key" point at the box of their first part.
    var candidates = [name, name.replace(/^selection\./, ""), name.replace(/\[.*$/, ""), name.split(".")[0]];
    for (var i = 0; i < candidates.length; i++) {
      var el = document.querySelector('[data-error-for="' + candidates[i] + '"]');
      if (el) {
        el.textContent = (field ? field + ": " : "") + message;
        var input = el.parentElement && el.parentElement.querySelector("input, select, textarea");
        if (input) input.setAttribute("aria-invalid", "true");
        return el;
      }
    }
    return null;
  }

  // ------------------------------------------------------------------------------------- selection

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

  function selectionLocked() { return !!(campaign && campaign.state !== "draft"); }

  function sampleSize() {
    var raw = $("f-sample-size").value.trim();
    return raw === "" ? null : parseInt(raw, 10);
  }

  function sampleSeed() {
    var raw = $("f-sample-seed").value.trim();
    return raw === "" ? 0 : parseInt(raw, 10);
  }

  // ---------------------------------------------------------------------------------------- preview

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, 250);
  }

  function runPreview() {
    var seq = ++previewSeq;
    var selection;
    var selectionCard = $("selection-card");
    clearErrors(selectionCard);
    $("preview-error").textContent = "";
    try {
      selection = selectionFromForm();
    } catch (err) {
      $("preview-error").textContent = "The JSON filter is not valid JSON: " + err.message;
      return;
    }
    if (!$("json-mode").checked) $("selection-json").value = JSON.stringify(selection, null, 1);
    $("preview").classList.add("loading");
    api("POST", urls.preview, {
      selection: selection, sample_size: sampleSize(), sample_seed: sampleSeed(), n: 24,
    }).then(function (res) {
      if (seq !== previewSeq) return; // a newer filter is on its way
      $("preview").classList.remove("loading");
      if (!res.ok) {
        $("preview-count").textContent = "–";
        $("preview-error").textContent = (res.body.field ? res.body.field + ": " : "") + res.body.detail;
        showError(res.body.field, res.body.detail);
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
    var target = lastExampleTarget || $("t-example");
    if (!target) {
      $("save-status").textContent = "Save the draft first to use examples in the tutorial and field guide.";
      return;
    }
    if (target.id === "g-examples") {
      var list = target.value.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
      if (list.indexOf(String(candid)) < 0) list.push(String(candid));
      target.value = list.join(", ");
    } else {
      target.value = candid;
    }
    target.classList.add("flash");
    setTimeout(function () { target.classList.remove("flash"); }, 600);
  }

  // ---------------------------------------------------------------------------------------- classes

  function renderClasses(classes, editable) {
    var body = $("classes-rows");
    body.innerHTML = "";
    classes.forEach(function (c) { addClassRow(c, editable); });
    $("add-class").hidden = !editable;
  }

  function addClassRow(c, editable) {
    var tr = document.createElement("tr");
    ["key", "label", "shortcut", "example_candid"].forEach(function (name) {
      var td = document.createElement("td");
      var input = document.createElement("input");
      input.type = name === "example_candid" ? "number" : "text";
      input.dataset.classField = name;
      input.value = c[name] === undefined || c[name] === null ? "" : c[name];
      input.readOnly = !editable;
      input.setAttribute("aria-label", "class " + name);
      if (name === "shortcut") input.maxLength = 1;
      td.appendChild(input);
      tr.appendChild(td);
    });
    var td = document.createElement("td");
    if (editable) {
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "btn btn-ghost";
      remove.textContent = "Remove";
      remove.addEventListener("click", function () { tr.remove(); });
      td.appendChild(remove);
    }
    tr.appendChild(td);
    $("classes-rows").appendChild(tr);
  }

  function classesFromForm() {
    var rows = [];
    $("classes-rows").querySelectorAll("tr").forEach(function (tr) {
      var c = {};
      tr.querySelectorAll("input").forEach(function (input) {
        var v = input.value.trim();
        if (input.dataset.classField === "example_candid") { if (v) c.example_candid = v; }
        else c[input.dataset.classField] = v;
      });
      rows.push(c);
    });
    return rows;
  }

  function onQuestionType() {
    var type = $("f-question-type").value;
    if (type === "custom") {
      var current = classesFromForm();
      renderClasses(current.length ? current : [{ key: "", label: "", shortcut: "1" }, { key: "", label: "", shortcut: "2" }], true);
    } else {
      renderClasses(data.defaults[type] || [], false);
    }
  }

  // ------------------------------------------------------------------------------------ save / load

  function listOf(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function numberOrNull(id, integer) {
    var raw = $(id).value.trim();
    if (raw === "") return null;
    return integer ? parseInt(raw, 10) : Number(raw);
  }

  function payload() {
    var body = {
      name: $("f-name").value.trim(),
      description: $("f-description").value,
      question_type: $("f-question-type").value,
      question: $("f-question").value.trim(),
      retire_after: numberOrNull("f-retire-after", true),
      retire_agree_k: numberOrNull("f-retire-k", true),
      retire_agree_fraction: numberOrNull("f-retire-fraction", false),
      access: $("f-access").value,
      volunteers: listOf($("f-volunteers").value),
      collaborators: listOf($("f-collaborators").value),
      gold_share: numberOrNull("f-gold-share", false),
    };
    if (body.question_type === "custom") body.classes = classesFromForm();
    if (!selectionLocked()) {
      body.selection = selectionFromForm();
      body.sample_size = sampleSize();
      body.sample_seed = sampleSeed();
    }
    if (body.retire_after === null) delete body.retire_after;
    if (body.gold_share === null) delete body.gold_share;
    if (campaign && campaign.owner !== undefined && !campaign.can_manage) delete body.collaborators;
    return body;
  }

  function save(event) {
    event.preventDefault();
    clearErrors($("campaign-form"));
    var body;
    try { body = payload(); } catch (err) {
      showError("selection", "the JSON filter is not valid JSON: " + err.message);
      return;
    }
    $("save-status").textContent = "Saving…";
    var request = slug ? api("PATCH", urls.campaign, body) : api("POST", urls.campaigns, body);
    request.then(function (res) {
      if (!res.ok) {
        $("save-status").textContent = "Not saved: " + (res.body.field ? res.body.field + ": " : "") + res.body.detail;
        showError(res.body.field, res.body.detail);
        return;
      }
      if (!slug) {
        window.location.assign(res.body.urls.builder + "?created=1");
        return;
      }
      campaign = res.body;
      fillForm(campaign);
      $("save-status").textContent = "Saved.";
    });
  }

  function fillForm(c) {
    $("f-name").value = c.name;
    $("f-description").value = c.description;
    $("f-question-type").value = c.question_type;
    $("f-question").value = c.question;
    renderClasses(c.classes, c.question_type === "custom" && c.state === "draft");
    selectionToForm(c.selection);
    $("f-sample-size").value = c.sample_size === null ? "" : c.sample_size;
    $("f-sample-seed").value = c.sample_seed;
    $("f-retire-after").value = c.retire_after;
    $("f-retire-k").value = c.retire_agree_k === null ? "" : c.retire_agree_k;
    $("f-retire-fraction").value = c.retire_agree_fraction === null ? "" : c.retire_agree_fraction;
    $("f-access").value = c.access;
    $("f-volunteers").value = (c.volunteers || []).join(", ");
    $("f-collaborators").value = (c.collaborators || []).join(", ");
    $("f-gold-share").value = c.gold_share;
    $("f-question-type").disabled = c.state !== "draft";
    var locked = selectionLocked();
    ["f-sample-size", "f-sample-seed", "json-mode"].forEach(function (id) { $(id).disabled = locked; });
    setJsonMode($("json-mode").checked);
    if (locked) {
      $("selection-note").textContent = "The selection was fixed when the campaign went live (" + c.n_subjects +
        " subjects). Use “Add matching alerts” for alerts ingested since.";
    }
    renderState(c);
    renderAnswerChoices(c.classes);
    runPreview();
  }

  // ------------------------------------------------------------------------------------------ state

  function renderState(c) {
    if (!$("state-panel")) return;
    var badge = $("state-badge");
    badge.textContent = c.state.charAt(0).toUpperCase() + c.state.slice(1);
    badge.className = "badge state-" + c.state;
    $("go-live").textContent = c.state === "paused" ? "Resume" : "Go live";
    $("go-live").hidden = !(c.state === "draft" || c.state === "paused");
    $("pause").hidden = c.state !== "live";
    $("finish").hidden = c.state === "finished";
    $("add-matching").hidden = !(c.state === "live" || c.state === "paused");
  }

  function setState(state) {
    $("state-status").textContent = "…";
    api("POST", urls.state, { state: state }).then(function (res) {
      if (!res.ok) {
        $("state-status").textContent = (res.body.field ? res.body.field + ": " : "") + res.body.detail;
        return;
      }
      campaign = res.body;
      fillForm(campaign);
      $("save-status").textContent = "";
      $("state-status").textContent = state === "live"
        ? "Live with " + campaign.n_subjects.toLocaleString("en") + " subjects — volunteers can classify now."
        : "Now " + campaign.state + ".";
    });
  }

  function addMatching() {
    $("state-status").textContent = "Looking for new matching alerts…";
    api("POST", urls.add_matching, {}).then(function (res) {
      $("state-status").textContent = res.ok
        ? res.body.added + " alert(s) added; " + res.body.subjects + " subjects in all."
        : res.body.detail;
    });
  }

  // ------------------------------------------------------------------------------- tutorial & guide

  function thumb(example) {
    var img = document.createElement("img");
    img.className = "stamp-thumb";
    img.src = example.url;
    img.alt = "example difference stamp, candid " + example.candid;
    img.loading = "lazy";
    return img;
  }

  // examples: [{candid, url}], the url of each example's difference stamp.
  function itemNode(title, text, examples, onDelete) {
    var li = document.createElement("li");
    var head = document.createElement("div");
    head.className = "item-head";
    var strong = document.createElement("strong");
    strong.textContent = title;
    head.appendChild(strong);
    var del = document.createElement("button");
    del.type = "button";
    del.className = "btn btn-ghost btn-small";
    del.textContent = "Delete";
    del.setAttribute("aria-label", "Delete " + title);
    del.addEventListener("click", onDelete);
    head.appendChild(del);
    li.appendChild(head);
    var p = document.createElement("p");
    p.textContent = text;
    li.appendChild(p);
    if (examples.length) {
      var row = document.createElement("div");
      row.className = "thumbs";
      examples.forEach(function (e) { row.appendChild(thumb(e)); });
      li.appendChild(row);
    }
    return li;
  }

  function loadTutorial() {
    api("GET", urls.tutorial).then(function (res) {
      var list = $("tutorial-list");
      list.innerHTML = "";
      (res.body || []).forEach(function (step) {
        var examples = step.example_candid ? [{ candid: step.example_candid, url: step.example_stamps.difference }] : [];
        list.appendChild(itemNode(step.title, step.text, examples, function () {
          api("DELETE", step.url).then(loadTutorial);
        }));
      });
    });
  }

  function loadGuide() {
    api("GET", urls.field_guide).then(function (res) {
      var list = $("guide-list");
      list.innerHTML = "";
      (res.body || []).forEach(function (entry) {
        var title = entry.title + (entry.answer ? " (" + entry.answer + ")" : "");
        var examples = entry.example_candids.map(function (c, i) { return { candid: c, url: entry.example_stamps[i] }; });
        list.appendChild(itemNode(title, entry.text, examples, function () {
          api("DELETE", entry.url).then(loadGuide);
        }));
      });
    });
  }

  function renderAnswerChoices(classes) {
    var select = $("g-answer");
    if (!select) return;
    var current = select.value;
    select.innerHTML = "";
    var none = document.createElement("option");
    none.value = "";
    none.textContent = "(general)";
    select.appendChild(none);
    classes.forEach(function (c) {
      var o = document.createElement("option");
      o.value = c.key;
      o.textContent = c.label;
      select.appendChild(o);
    });
    select.value = current;
  }

  function addStep(event) {
    event.preventDefault();
    clearErrors($("tutorial-form"));
    var example = $("t-example").value.trim();
    api("POST", urls.tutorial, {
      title: $("t-title").value.trim(), text: $("t-text").value.trim(),
      example_candid: example || null,
    }).then(function (res) {
      if (!res.ok) { showError(res.body.field, res.body.detail, "t-") || showError("title", res.body.detail, "t-"); return; }
      $("tutorial-form").reset();
      loadTutorial();
    });
  }

  function addEntry(event) {
    event.preventDefault();
    clearErrors($("guide-form"));
    api("POST", urls.field_guide, {
      title: $("g-title").value.trim(), text: $("g-text").value.trim(), answer: $("g-answer").value,
      example_candids: listOf($("g-examples").value),
    }).then(function (res) {
      if (!res.ok) { showError(res.body.field, res.body.detail, "g-") || showError("title", res.body.detail, "g-"); return; }
      $("guide-form").reset();
      loadGuide();
    });
  }

  // ----------------------------------------------------------------------------------------- wiring

  document.addEventListener("DOMContentLoaded", function () {
    $("campaign-form").addEventListener("submit", save);
    $("f-question-type").addEventListener("change", onQuestionType);
    $("add-class").addEventListener("click", function () {
      addClassRow({ key: "", label: "", shortcut: String($("classes-rows").children.length + 1) }, true);
    });
    document.querySelectorAll("#selection-card input, #selection-card select, #f-sample-size, #f-sample-seed").forEach(function (el) {
      el.addEventListener("input", schedulePreview);
      el.addEventListener("change", schedulePreview);
    });
    $("selection-json").addEventListener("input", schedulePreview);
    $("json-mode").addEventListener("change", function () { setJsonMode($("json-mode").checked); schedulePreview(); });
    document.querySelectorAll(".example-input").forEach(function (el) {
      el.addEventListener("focus", function () { lastExampleTarget = el; });
    });
    if (slug) {
      $("tutorial-form").addEventListener("submit", addStep);
      $("guide-form").addEventListener("submit", addEntry);
      document.querySelectorAll("#state-panel [data-state]").forEach(function (btn) {
        btn.addEventListener("click", function () { setState(btn.dataset.state); });
      });
      $("add-matching").addEventListener("click", addMatching);
      api("GET", urls.campaign).then(function (res) {
        if (!res.ok) { $("save-status").textContent = res.body.detail; return; }
        campaign = res.body;
        fillForm(campaign);
        if (/created=1/.test(window.location.search)) {
          $("save-status").textContent = "Draft saved. Add a tutorial and a field guide, then go live.";
        }
      });
      loadTutorial();
      loadGuide();
    } else {
      onQuestionType();
      runPreview();
    }
  });
})();
