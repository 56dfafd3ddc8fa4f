/* Blink classify page: answering. The chosen answer, "Done" handing the vote to the outbox, and what the
 * outbox and the server say back: the volunteer's counts, agreement, gold feedback and the campaign's progress. */
(function (C) {
  "use strict";
  var $ = C.$, $$ = C.$$, cfg = C.cfg, state = C.state, answers = C.answers, Outbox = C.Outbox;

  var outboxStatus = $("#outbox-status");

  function selectAnswer(key) {
    state.answer = key;
    $$("#answers .answer").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-answer") === key ? "true" : "false");
    });
    var feedback = $("#feedback");
    if (key) {
      state.answerPrompt = "Your answer: " + answers[key].label + ". Press Enter (Done) to send it.";
      C.say(state.answerPrompt, "quiet");
    } else if (state.answerPrompt && feedback.textContent === state.answerPrompt) {
      // The prompt belonged to the candidate just sent: it must not sit under the next one. Other messages
      // (a refused vote, a retry notice) stay.
      C.say("");
    }
    if (!key) state.answerPrompt = null;
  }

  function answerHint() {
    return cfg.answers.filter(function (a) { return a.shortcut; })
      .map(function (a) { return a.shortcut + " " + a.label; }).join(", ");
  }

  function done(talk) {
    var subject = state.current;
    if (!subject) return;
    if (!state.answer) {
      C.say("Choose an answer first (" + answerHint() + ").", "bad");
      return;
    }
    var body = {
      subject: subject.id,
      answer: state.answer,
      idempotency_key: Outbox.uuid(),
      duration_ms: Math.max(0, Math.min(86400000, Math.round(performance.now() - state.shownAt))),
      // The card's proof that Blink served this subject to this volunteer: without it the vote does not count.
      // Kept in the outbox with the rest of the body, so a resend after a while offline still carries it.
      served: subject.served,
    };
    C.rememberVoted(subject.id);
    Outbox.add({
      url: cfg.api.votes,
      body: body,
      meta: { slug: cfg.slug, candid: subject.candid, answerLabel: answers[state.answer].label },
    });
    renderMyCount();
    if (talk) {
      C.setPageState("leaving");
      C.say("Vote sent. Opening the discussion of " + subject.candid + "…", "quiet");
      Outbox.sendNow(body.idempotency_key, 2500).then(function () {
        window.location.assign(subject.talk_url + "?campaign=" + encodeURIComponent(cfg.slug));
      });
      return;
    }
    C.showNext();
  }

  function percent(x) { return Math.round(x * 100) + "%"; }

  function renderStats(stats) {
    if (!stats) return;
    state.serverCount = stats.classifications;
    renderMyCount();
    var c = stats.consensus || {};
    $("#my-consensus").textContent = stats.consensus_agreement == null
      ? "— (needs others' votes)"
      : percent(stats.consensus_agreement) + " (" + c.agreed + " of " + c.compared + ")";
    var g = stats.gold || {};
    $("#my-gold").textContent = stats.gold_agreement == null
      ? "—"
      : percent(stats.gold_agreement) + " (" + g.agreed + " of " + g.compared + ")";
  }

  function renderMyCount() {
    $("#my-count").textContent = String(state.serverCount + C.pendingHere().length);
  }

  function renderProgress(p) {
    if (!p) return;
    // A vote's answer and the live socket can deliver counts out of order: an older one (fewer classifications)
    // must not move the counter or the progress bar back.
    if (typeof p.classifications === "number") {
      if (p.classifications < state.liveCount) return;
      state.liveCount = p.classifications;
    }
    $("#live-count").textContent = state.liveCount.toLocaleString();
    $("#live-count-unit").textContent = state.liveCount === 1 ? "classification" : "classifications";
    var bar = $("#campaign-progress");
    if (p.subjects) {
      bar.max = p.subjects;
      bar.value = p.retired;
      $("#retired-text").textContent = p.percent_retired + "% of " + p.subjects.toLocaleString() + " candidates done";
    }
  }

  function renderOutboxStatus(items) {
    var failing = C.pendingHere(items).filter(function (it) { return it.tries > 0; });
    if (!failing.length) {
      outboxStatus.textContent = "";
      outboxStatus.className = "outbox-status";
    } else {
      var login = failing.some(function (it) { return it.lastError === "login"; });
      outboxStatus.textContent = failing.length + " vote" + (failing.length === 1 ? "" : "s") +
        " waiting to be sent — " + (login ? "please log in again in another tab; retrying" : "retrying");
      outboxStatus.className = "outbox-status outbox-waiting";
    }
    renderMyCount();
  }

  Outbox.on("change", renderOutboxStatus);
  Outbox.on("stored", function (item, data) {
    if (!data || !item.meta || item.meta.slug !== cfg.slug) return;
    renderStats(data.stats);
    renderProgress(data.progress);
    if (data.gold) {
      var agreed = data.gold.agreed;
      var box = $("#gold-feedback");
      box.hidden = false;
      box.className = "gold-feedback " + (agreed ? "gold-agreed" : "gold-differed");
      box.textContent = "The experts said: " + data.gold.label + " (candidate " + item.meta.candid + ")" +
        (agreed ? " — you agree. Well spotted!" : " — you said " + item.meta.answerLabel + ". Have a look at the field guide.") +
        (data.gold.note ? " " + data.gold.note : "");
    }
  });
  Outbox.on("rejected", function (item, status, data) {
    if (!item.meta || item.meta.slug !== cfg.slug) return;
    var why = (data && data.detail) || ("the server answered " + status);
    if (data && data.code === "duplicate") return; // already stored from another tab: nothing lost
    if (data && data.code === "retired") {
      C.say("Candidate " + item.meta.candid + " had enough votes before yours arrived — thank you all the same.", "quiet");
    } else {
      C.say("Your vote on " + item.meta.candid + " was not accepted: " + why, "bad");
    }
    renderMyCount();
  });

  Object.assign(C, {
    selectAnswer: selectAnswer,
    done: done,
    renderStats: renderStats,
    renderProgress: renderProgress,
    renderOutboxStatus: renderOutboxStatus,
  });
})(window.BlinkClassify);
