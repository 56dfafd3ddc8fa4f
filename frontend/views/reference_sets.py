"""The console page where an ML lead names the reference sets every candidate is scored on, and deletes them.

Writes go through :mod:`classifiers.reference_sets` (the same services as ``/api/models/reference-sets/``); a
refusal (a bad kind, a campaign that does not fit) comes back as a message beside the form.
"""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

from classifiers.models import ReferenceSet, Task
from classifiers.reference_sets import (
    NAMED_KINDS,
    campaign_named,
    create_reference_set,
    delete_reference_set,
    reference_sets_list,
)
from core.errors import ServiceError
from core.roles import MLLEAD, role_required
from labeling.models import Campaign


@role_required(MLLEAD)
@require_GET
def reference_sets(request):
    return render(
        request,
        "frontend/console/reference_sets.html",
        {
            "sets": reference_sets_list(),
            # The held-out set is built in, one per task: not a kind to name.
            "kinds": [(k, label) for k, label in ReferenceSet.Kind.choices if k in NAMED_KINDS],
            "tasks": Task.choices,
            "campaigns": Campaign.objects.exclude(state=Campaign.State.FINISHED).order_by("name"),
            "section": "versions",
        },
    )


@role_required(MLLEAD)
@require_POST
def reference_set_create(request):
    form = request.POST
    try:
        created = create_reference_set(
            actor=request.user,
            name=form.get("name", ""),
            kind=form.get("kind", ""),
            task=form.get("task", Task.REAL_BOGUS),
            campaign=campaign_named(form.get("campaign", "")),
            guards_promotion=form.get("guards_promotion") == "on",
            margin=form.get("margin", "0.02"),
        )
        messages.success(request, f"Reference set “{created.name}” named; every candidate is now scored on it.")
    except ServiceError as exc:
        messages.error(request, f"No set was named: {exc.message}")
    return redirect("console-reference-sets")


@role_required(MLLEAD)
@require_POST
def reference_set_delete(request, pk: int):
    reference_set = get_object_or_404(ReferenceSet, pk=pk)
    # The form names the set it deletes: a stray post (or one from a stale page) deletes nothing.
    if request.POST.get("confirm") != reference_set.name:
        messages.error(request, f"Nothing was deleted: the form did not name the set “{reference_set.name}”.")
    else:
        delete_reference_set(reference_set=reference_set)
        messages.success(request, f"Reference set “{reference_set.name}” deleted, with every version's figures.")
    return redirect("console-reference-sets")


urlpatterns = [
    path("ml/reference-sets/", reference_sets, name="console-reference-sets"),
    path("ml/reference-sets/new/", reference_set_create, name="console-reference-set-create"),
    path("ml/reference-sets/<int:pk>/delete/", reference_set_delete, name="console-reference-set-delete"),
]
