// What every page script shares: the CSRF token, JSON requests and element building. base.html loads it in
// <head>, before any page script (the CSP allows no inline script). Page scripts never build a URL: the page
// hands them theirs in data attributes or its JSON data block, and API answers carry the URLs of what they list.
(function () {
  "use strict";

  // Django's CSRF cookie when scripts may read it, else the token a {% csrf_token %} form field or the page's
  // data block (window.BLINK_CSRF) carries.
  function csrfToken() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    if (m) return decodeURIComponent(m[1]);
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (input) return input.value;
    return window.BLINK_CSRF || "";
  }

  // A request to Blink's API. Resolves to {ok, status, body}: body is the parsed JSON answer (null for 204),
  // every refusal carrying {detail, code, field}; a body that is not JSON reads as {detail: "HTTP <status>"}.
  // Rejects only when the network fails. options: method (GET), body (sent as JSON), keepalive, parse (a
  // JSON reader of the answer's text, e.g. one that keeps 64-bit candids exact).
  function fetchJSON(url, options) {
    options = options || {};
    var method = options.method || "GET";
    var init = {
      method: method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    };
    if (method !== "GET" && method !== "HEAD") init.headers["X-CSRFToken"] = csrfToken();
    if (options.body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    if (options.keepalive) init.keepalive = true;
    var parse = options.parse || JSON.parse;
    return fetch(url, init).then(function (r) {
      if (r.status === 204) return { ok: r.ok, status: r.status, body: null };
      return r.text().then(function (text) {
        var body;
        try {
          body = parse(text);
        } catch (err) {
          body = { detail: "HTTP " + r.status };
        }
        return { ok: r.ok, status: r.status, body: body };
      });
    });
  }

  // el("a", {href: url, className: "btn"}, "text"): an element with attributes and text (never HTML).
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "className") node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // The websocket URL of a path the page handed over (ws: or wss: like the page).
  function socketURL(path) {
    return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path;
  }

  // Bokeh draws a plot on a focusable layer deep in its shadow DOM and makes each toolbar icon a Tab stop, none
  // of them named. Once embed_item has drawn into ``container``: the layer takes the figure's name (the
  // aria-label the figure was built with, else the container's) and each tool the words of its tooltip.
  function namePlot(container) {
    var labelled = container.querySelector("[aria-label]") || container;
    var name = labelled.getAttribute("aria-label") || "Plot";
    (function visit(root) {
      root.querySelectorAll("*").forEach(function (node) {
        if (node.classList.contains("bk-events")) {
          node.setAttribute("role", "group");
          node.setAttribute("aria-label", name);
        } else if (node.tabIndex === 0 && node.title && node.tagName === "DIV") {
          node.setAttribute("role", "button");
          node.setAttribute("aria-label", node.title);
        }
        if (node.shadowRoot) visit(node.shadowRoot);
      });
    })(container);
  }

  // A figure replaced on the page goes with its bokeh document, so nothing of the old one stays behind.
  function removePlot(views) {
    if (!views || !window.Bokeh) return;
    try {
      views.roots.forEach(function (view) {
        var doc = view.model && view.model.document;
        view.remove();
        if (doc && Bokeh.documents) {
          var i = Bokeh.documents.indexOf(doc);
          if (i >= 0) Bokeh.documents.splice(i, 1);
        }
      });
    } catch (e) { /* a plot that will not go quietly is replaced anyway */ }
  }

  window.Blink = {
    csrfToken: csrfToken, fetchJSON: fetchJSON, el: el, socketURL: socketURL, namePlot: namePlot,
    removePlot: removePlot,
  };
})();
