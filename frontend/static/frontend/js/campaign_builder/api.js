// The campaign builder: the form, a live preview of the alert selection, classes, tutorial, field guide, state.
// Every write goes through the campaign API, the same path scripts use; the page hands over its URLs (data.urls)
// and each tutorial step or field-guide entry carries its own.
//
// Plain scripts loaded in order (no bundler), each adding its part to window.BlinkBuilder: api.js (this: the
// page's data, API calls, field errors), selection.js (the filter and its preview), campaign.js (classes,
// save, state), guide.js (tutorial and field guide), page.js (the wiring). The campaign being edited is
// BlinkBuilder.campaign (null until loaded or for a new one).
(function () {
  "use strict";

  var data = JSON.parse(document.getElementById("builder-data").textContent);

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

  function listOf(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  window.BlinkBuilder = {
    data: data,
    slug: data.slug,
    urls: data.urls,
    campaign: null,
    lastExampleTarget: null,
    $: $,
    api: api,
    clearErrors: clearErrors,
    showError: showError,
    listOf: listOf,
  };
})();
