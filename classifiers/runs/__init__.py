"""Training runs: the one life of a ``TrainingRun``, from a request to a promoted (or kept) version.

::

    request_run()  ─▶ queued ─▶ running (labels, epochs, heartbeat) ─▶ registered ─▶ evaluated ─▶ promoted | kept
    (page, API,                    ╰──────────────▶ failed ─▶ retried (once) | given_up          diverged (NaN loss)
     command, policy)                                ▲ the reaper: a running run whose heartbeat stopped

* :mod:`classifiers.runs.requests`: the one in-flight rule (one queued or running run per task, enforced by a
  partial unique index: two requests at once make one run), the options a run accepts, and the labels it needs
  (too few of a class and it is refused before it is queued).
* :mod:`classifiers.runs.worker`: the durable task ``manage.py db_worker`` runs, the heartbeat, the one retry
  rule and the one reaper.
* :mod:`classifiers.runs.steps`: train on the labelled alerts (the fixed held-out objects left out), register,
  evaluate candidate and active version on the fixed held-out set (stored: every page shows that figure), and
  promote or keep the candidate as the run's ``promote`` option says, in one transaction with the run's final
  status.
* :mod:`classifiers.runs.events`: the one event format, appended to ``TrainingRun.progress`` and sent as the
  ``classifiers.signals.run_event`` signal (the frontend relays it to the ML lead's websocket).
* :mod:`classifiers.runs.selectors`: what pages and APIs show of runs.

Who asks for a run decides its options; nobody repeats a step of it. The active-learning loop (above this app)
decides when to retrain and reacts to ``version_activated`` after a promotion.
"""
