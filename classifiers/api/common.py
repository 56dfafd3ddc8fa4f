"""What the ML leads' endpoints share (the registry, the console, the reference sets here, and activelearning's
loop): the authentication and the role they need, and the ``?task=`` filter, its refusal and its documentation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework.exceptions import ValidationError
from rest_framework.views import APIView

from classifiers.models import Task
from core.roles import MLLEAD, HasRole
from labeling.api.alerts import AUTHENTICATION

TASK_FILTER = OpenApiParameter("task", str, enum=list(Task.values), description="only this task")


class MLLeadsOnly(APIView):
    authentication_classes = AUTHENTICATION
    permission_classes = [HasRole.of(MLLEAD)]


def task_filter(request) -> str | None:
    """The task the ``?task=`` query names, None when it names none; an unknown task is refused, naming the field."""
    task = request.query_params.get("task")
    if task is not None and task not in Task.values:
        raise ValidationError({"task": f"unknown task {task!r}; expected one of {', '.join(Task.values)}"})
    return task
