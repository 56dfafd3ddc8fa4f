/* Blink vote outbox: votes wait in localStorage until the server has them.
 *
 * A vote is added with its idempotency key (a UUID made here) and sent in the background; a network error or a
 * 5xx keeps it and retries with exponential backoff (1 s, 2 s, 4 s ... 30 s, with jitter). Because the key
 * travels with every retry, the server stores it once however many times it arrives (201 the first time, 200
 * after). A refusal that will not change (409 already classified / retired, 400, 404, 403 no access) drops it
 * and tells the page. Loaded by the classify page and by Talk pages, so a vote left waiting when the
 * volunteer chose "Done & Talk" is still delivered.
 *
 * window.BlinkOutbox: add(item), flush(), sendNow(key, timeoutMs), pending(), uuid(), on(event, fn)
 * events: "stored" (item, body), "rejected" (item, status, body), "change" (pendingItems)
 */
(function () {
  "use strict";

  var STORE = "blink.outbox.v1";
  var MAX_DELAY_MS = 30000;
  var memory = [];
  var listeners = { stored: [], rejected: [], change: [] };
  var sending = false;
  var timer = null;
  var waiters = {};

  function storageOK() {
    try {
      var probe = "blink.probe";
      window.localStorage.setItem(probe, "1");
      window.localStorage.removeItem(probe);
      return true;
    } catch (e) {
      return false;
    }
  }
  var persistent = storageOK();

  function load() {
    if (!persistent) return memory.slice();
    try {
      var items = JSON.parse(window.localStorage.getItem(STORE) || "[]");
      return Array.isArray(items) ? items : [];
    } catch (e) {
      return [];
    }
  }

  function save(items) {
    memory = items.slice();
    if (!persistent) return;
    try {
      window.localStorage.setItem(STORE, JSON.stringify(items));
    } catch (e) {
      persistent = false; // quota: keep going in memory rather than lose votes now
    }
  }

  function emit(name) {
    var args = Array.prototype.slice.call(arguments, 1);
    listeners[name].forEach(function (fn) {
      try {
        fn.apply(null, args);
      } catch (e) {
        if (window.console) console.error(e);
      }
    });
  }

  function changed() {
    emit("change", load());
  }

  function uuid() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    // Outside a secure context randomUUID is missing; getRandomValues is not.
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 0x100).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }

  function remove(key) {
    save(load().filter(function (it) { return it.key !== key; }));
  }

  function settle(key, outcome) {
    (waiters[key] || []).forEach(function (fn) { fn(outcome); });
    delete waiters[key];
  }

  function retryLater(item, reason) {
    var items = load();
    var found = null;
    items.forEach(function (it) { if (it.key === item.key) found = it; });
    if (!found) return;
    found.tries = (found.tries || 0) + 1;
    var delay = Math.min(MAX_DELAY_MS, 1000 * Math.pow(2, found.tries - 1));
    found.nextAt = Date.now() + Math.round(delay * (0.8 + 0.4 * Math.random()));
    found.lastError = reason;
    save(items);
    changed();
  }

  function send(item) {
    return Blink.fetchJSON(item.url, { method: "POST", body: item.body, keepalive: true }).then(
      function (res) {
        var s = res.status;
        var data = res.body;
        if (s === 200 || s === 201) {
          remove(item.key);
          emit("stored", item, data);
          settle(item.key, "stored");
        } else if (s >= 500 || s === 408 || s === 429 || s === 401 || (s === 403 && !(data && data.code === "no_access"))) {
          // Server trouble, or a session/CSRF problem the volunteer can fix by logging in again: keep it.
          retryLater(item, s === 401 || s === 403 ? "login" : "server");
          settle(item.key, "waiting");
        } else {
          remove(item.key);
          emit("rejected", item, s, data);
          settle(item.key, "rejected");
        }
        changed();
      },
      function () {
        retryLater(item, "network");
        settle(item.key, "waiting");
      }
    );
  }

  function schedule() {
    if (timer) clearTimeout(timer);
    timer = null;
    var items = load();
    if (!items.length) return;
    var soonest = Math.min.apply(null, items.map(function (it) { return it.nextAt || 0; }));
    timer = setTimeout(flush, Math.max(50, soonest - Date.now()));
  }

  function flush() {
    if (sending) return Promise.resolve();
    sending = true;
    var attempted = {};
    function next() {
      var now = Date.now();
      var due = load().filter(function (it) { return (it.nextAt || 0) <= now && !attempted[it.key]; });
      if (!due.length) return Promise.resolve();
      attempted[due[0].key] = true;
      return send(due[0]).then(next);
    }
    return next().then(function () {
      sending = false;
      schedule();
    }, function () {
      sending = false;
      schedule();
    });
  }

  function add(fields) {
    var item = {
      key: fields.body.idempotency_key,
      url: fields.url,
      body: fields.body,
      meta: fields.meta || {},
      tries: 0,
      nextAt: 0,
      createdAt: Date.now(),
    };
    var items = load();
    items.push(item);
    save(items);
    changed();
    flush();
    return item;
  }

  // Resolves "stored", "rejected" or "waiting" once this vote has been tried, or "timeout".
  function sendNow(key, timeoutMs) {
    return new Promise(function (resolve) {
      var done = false;
      function finish(outcome) {
        if (done) return;
        done = true;
        resolve(outcome);
      }
      (waiters[key] = waiters[key] || []).push(finish);
      setTimeout(function () { finish("timeout"); }, timeoutMs || 3000);
      if (!load().some(function (it) { return it.key === key; })) finish("stored");
      flush();
    });
  }

  function on(name, fn) {
    listeners[name].push(fn);
  }

  window.BlinkOutbox = {
    add: add,
    flush: flush,
    sendNow: sendNow,
    pending: load,
    uuid: uuid,
    on: on,
  };

  window.addEventListener("online", flush);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") flush();
  });
  // Another tab may have added or delivered votes.
  window.addEventListener("storage", function (ev) {
    if (ev.key === STORE) changed();
  });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", flush);
  } else {
    flush();
  }
})();
