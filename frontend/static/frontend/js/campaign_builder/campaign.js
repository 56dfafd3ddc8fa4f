// The campaign builder's campaign: its answer classes, saving the form through the campaign API, filling the
// form from what the API answers, and moving the campaign between its states.
(function (B) {
  "use strict";
  var $ = B.$, api = B.api, urls = B.urls;

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
      renderClasses(B.data.defaults[type] || [], false);
    }
  }

  function numberOrNull(id, integer) {
    var raw = $(id).value.trim();
    if (raw === "") return null;
    return integer ? parseInt(raw, 10) : Number(raw);
  }

  function payload() {
    var campaign = B.campaign;
    var body = {
      name: $("f-name").value.trim(),
      description: $("f-description").value,
      question_type: $("f-question-type").value,
      question: $("f-question").value.trim(),
      retire_after: numberOrNull("f-retire-after", true),
      retire_agree_k: numberOrNull("f-retire-k", true),
      retire_agree_fraction: numberOrNull("f-retire-fraction", false),
      access: $("f-access").value,
      volunteers: B.listOf($("f-volunteers").value),
      collaborators: B.listOf($("f-collaborators").value),
      gold_share: numberOrNull("f-gold-share", false),
    };
    if (body.question_type === "custom") body.classes = classesFromForm();
    if (!B.selectionLocked()) {
      body.selection = B.selectionFromForm();
      body.sample_size = B.sampleSize();
      body.sample_seed = B.sampleSeed();
    }
    if (body.retire_after === null) delete body.retire_after;
    if (body.gold_share === null) delete body.gold_share;
    if (campaign && campaign.owner !== undefined && !campaign.can_manage) delete body.collaborators;
    return body;
  }

  // The line beside the Save button: what happened to the last save, in red when it was refused.
  function saveStatus(text, refused) {
    $("save-status").textContent = text;
    $("save-status").classList.toggle("error", !!refused);
  }

  function save(event) {
    event.preventDefault();
    B.clearErrors($("campaign-form"));
    var body;
    try { body = payload(); } catch (err) {
      B.showError("selection", "not valid JSON: " + err.message);
      saveStatus("Not saved: the JSON filter is not valid JSON (" + err.message + ").", true);
      return;
    }
    saveStatus("Saving…", false);
    var request = B.slug ? api("PATCH", urls.campaign, body) : api("POST", urls.campaigns, body);
    request.then(function (res) {
      if (!res.ok) {
        saveStatus("Not saved: " + (res.body.field ? res.body.field + ": " : "") + res.body.detail, true);
        B.showError(res.body.field, res.body.detail);
        return;
      }
      if (!B.slug) {
        // The draft now has its own page: go there in place of /new/, so that a reload shows the saved draft
        // and Back does not lead to an empty form that would save a second campaign.
        window.location.replace(res.body.urls.builder + "?created=1");
        return;
      }
      fillForm(res.body);
      saveStatus("Saved.", false);
    });
  }

  // Show the campaign the API answered with, and keep it as the one being edited.
  function fillForm(c) {
    B.campaign = c;
    $("f-name").value = c.name;
    $("f-description").value = c.description;
    $("f-question-type").value = c.question_type;
    $("f-question").value = c.question;
    renderClasses(c.classes, c.question_type === "custom" && c.state === "draft");
    B.selectionToForm(c.selection);
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
    var locked = B.selectionLocked();
    ["f-sample-size", "f-sample-seed", "json-mode"].forEach(function (id) { $(id).disabled = locked; });
    B.setJsonMode($("json-mode").checked);
    if (locked) {
      $("selection-note").textContent = "The selection was fixed when the campaign went live (" + c.n_subjects +
        " subjects). Use “Add matching alerts” for alerts ingested since.";
    }
    renderState(c);
    B.renderAnswerChoices(c.classes);
    B.runPreview();
  }

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
      fillForm(res.body);
      $("save-status").textContent = "";
      $("state-status").textContent = state === "live"
        ? "Live with " + B.campaign.n_subjects.toLocaleString("en") + " subjects — volunteers can classify now."
        : "Now " + B.campaign.state + ".";
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

  Object.assign(B, {
    addClassRow: addClassRow,
    onQuestionType: onQuestionType,
    save: save,
    fillForm: fillForm,
    setState: setState,
    addMatching: addMatching,
  });
})(window.BlinkBuilder);
