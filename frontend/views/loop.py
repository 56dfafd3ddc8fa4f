"""The ML lead's live page of the active-learning loop: ``/ml/loop/``.

The page is rendered from one read (``activelearning.selectors.loop_overview``) and kept up to date by the
scripts in ``frontend/static/frontend/js/loop/``: over the ``ws/training/`` websocket when the channel layer is
shared between processes (Redis), else by following the runs' stored events
(``/api/models/training-runs/<id>/events/``), and the page says which. Its buttons call the loop API
(``/api/loop/...``). Nothing here trains, scores or writes: that happens in ``manage.py db_worker``, and a dead
worker's run is reaped by the next training request (``classifiers.runs``), not by a page view.
"""

from __future__ import annotations

from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from activelearning import selectors
from classifiers.console.versions import versions_without_weights
from classifiers.models import Task
from core.roles import MLLEAD, role_required
from core.urls import TRAINING_SOCKET_PATH
from frontend.consumers.training import channel_layer_is_shared


@role_required(MLLEAD)
@require_GET
def loop_page(request):
    overview = selectors.loop_overview()
    return render(
        request,
        "frontend/loop/loop.html",
        {
            "overview": overview,
            "tasks": Task.choices,
            "section": "loop",
            "socket_path": TRAINING_SOCKET_PATH,
            # Without a shared layer the worker's events never reach a websocket: the page follows stored events.
            "live_layer": channel_layer_is_shared(),
            "campaigns": overview["campaigns"],
            # What a retraining can start from besides the active version: any version of the chosen task.
            "versions": versions_without_weights().order_by("task", "-version"),
            "heldout_percent": round(100 * overview["policy"]["heldout_fraction"]),
        },
    )


urlpatterns = [path("ml/loop/", loop_page, name="ml-loop")]
