// The campaign builder's tutorial steps and field-guide entries: listed with their example stamps, added and
// deleted through the API (each step or entry carries its own URL).
(function (B) {
  "use strict";
  var $ = B.$, api = B.api, urls = B.urls;

  function thumb(example) {
    var img = document.createElement("img");
    img.className = "stamp-thumb";
    img.src = example.url;
    img.alt = "Example: difference cutout of candid " + example.candid + ", linear stretch";
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

  // Post a new step or entry from its form; a refusal is shown at its field (or at the title), else the form
  // is cleared and the list reloaded. prefix: the form's field ids' prefix ("t-" or "g-").
  function addItem(event, url, body, prefix, reload) {
    event.preventDefault();
    var form = event.target;
    B.clearErrors(form);
    api("POST", url, body).then(function (res) {
      if (!res.ok) { B.showError(res.body.field, res.body.detail, prefix) || B.showError("title", res.body.detail, prefix); return; }
      form.reset();
      reload();
    });
  }

  function addStep(event) {
    var example = $("t-example").value.trim();
    addItem(event, urls.tutorial, {
      title: $("t-title").value.trim(), text: $("t-text").value.trim(),
      example_candid: example || null,
    }, "t-", loadTutorial);
  }

  function addEntry(event) {
    addItem(event, urls.field_guide, {
      title: $("g-title").value.trim(), text: $("g-text").value.trim(), answer: $("g-answer").value,
      example_candids: B.listOf($("g-examples").value),
    }, "g-", loadGuide);
  }

  Object.assign(B, {
    loadTutorial: loadTutorial,
    loadGuide: loadGuide,
    renderAnswerChoices: renderAnswerChoices,
    addStep: addStep,
    addEntry: addEntry,
  });
})(window.BlinkBuilder);
