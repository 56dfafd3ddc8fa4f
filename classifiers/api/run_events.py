"""A training run's stored events, for a page that follows the run without a shared channel layer.

Under ``make run`` there is no Redis: daphne and ``manage.py db_worker`` are separate processes whose in-memory
channel layers never meet, so the worker's events reach no websocket. Every event is stored on the run as it
happens (:mod:`classifiers.runs.events`), numbered by ``seq``; the loop page asks for those after the last number
it has. With ``wait`` the answer waits (up to a second) for the next stored event, so the page sees each epoch
within a fraction of a second of the worker storing it while asking about once a second when nothing happens.
"""

from __future__ import annotations

import time

from django.db import connection
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response

from classifiers.api.common import MLLeadsOnly
from classifiers.runs.selectors import events_after

MAX_WAIT_SECONDS = 1.0
# How often a waiting answer looks again: one primary-key read of the run's row.
CHECK_EVERY_SECONDS = 0.1

RunEvents = inline_serializer(
    "TrainingRunEvents",
    fields={
        "run": serializers.IntegerField(),
        "status": serializers.CharField(help_text="queued, running, succeeded, failed or diverged"),
        "in_flight": serializers.BooleanField(help_text="queued or running"),
        "seq": serializers.IntegerField(help_text="the number of the run's last stored event (0: none yet)"),
        "events": serializers.ListField(
            child=serializers.DictField(), help_text="the stored events numbered above `after`, oldest first"
        ),
    },
)


def _number(request, name: str, *, low: float, high: float, cast=int):
    raw = request.query_params.get(name, "0")
    try:
        value = cast(raw)
    except ValueError:
        raise ValidationError({name: f"must be a number, not {raw!r}"}) from None
    if not low <= value <= high:
        raise ValidationError({name: f"must be between {low:g} and {high:g}"})
    return value


@extend_schema(
    summary="A training run's stored events after a given number",
    description="Events in the one format of `classifiers.runs.events`, each numbered by `seq`. Ask with `after` "
    "set to the last `seq` you have. With `wait` (seconds, at most 1) the answer waits for the next stored event "
    "when there is none yet.",
    parameters=[
        OpenApiParameter("after", int, description="return the events numbered above this (default 0: all)"),
        OpenApiParameter("wait", float, description="seconds to wait for a new event (0 to 1, default 0)"),
    ],
    responses={200: RunEvents},
)
class TrainingRunEvents(MLLeadsOnly):
    def get(self, request, pk: int):
        after = _number(request, "after", low=0, high=2**31)
        wait = _number(request, "wait", low=0, high=MAX_WAIT_SECONDS, cast=float)
        deadline = time.monotonic() + wait
        while True:
            found = events_after(pk, after)
            if found is None:
                raise NotFound(f"no training run {pk}")
            if found["events"] or time.monotonic() >= deadline:
                return Response(found)
            if not connection.in_atomic_block:
                connection.close()  # a pooled connection goes back to the pool while this request waits
            time.sleep(CHECK_EVERY_SECONDS)


urlpatterns = [
    path("models/training-runs/<int:pk>/events/", TrainingRunEvents.as_view(), name="api-training-run-events"),
]
