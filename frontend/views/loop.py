"""The ML lead's live page of the active-learning loop: ``/ml/loop/``.

The page is rendered from one read (``activelearning.selectors.loop_overview``) and kept live by
``frontend/static/frontend/js/loop.js`` over the ``ws/training/`` websocket; its buttons call the loop API
(``/api/loop/...``). Nothing here trains or scores: that happens in ``manage.py db_worker``.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from activelearning import selectors
from activelearning.retraining import reap_stale_runs
from classifiers.models import Task
from core.roles import MLLEAD, role_required


@role_required(MLLEAD)
@require_GET
def loop_page(request):
    # Cheap, and it keeps a dead worker's run from blocking the button the ML lead is about to press.
    reap_stale_runs()
    overview = selectors.loop_overview()
    return render(
        request,
        "frontend/loop/loop.html",
        {
            "overview": overview,
            "tasks": Task.choices,
            "section": "loop",
            "campaigns": overview["campaigns"],
            "heldout_percent": round(100 * overview["policy"]["heldout_fraction"]),
        },
    )


urlpatterns = [path("ml/loop/", loop_page, name="ml-loop")]
