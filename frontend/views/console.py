"""The ML lead console: is the active model still good, is the new one better, has the sky changed under it?

Each page parses its input, calls the console's selectors (``classifiers.console``, ``classifiers.drift.selectors``)
or one of its services, and renders. Drift is read from stored ``DriftNight`` rows; nothing heavy runs on a
request that a cache has not kept. Plots are bokeh ``json_item`` dicts (``frontend.plots.console``) in
``json_script`` blocks, embedded by ``frontend/static/frontend/js/console.js`` (no inline script).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from activelearning.queue import campaigns_for_task
from classifiers.console.compare import compare_versions, slice_report
from classifiers.console.disagreements import (
    campaign_owner_choices,
    find_disagreements,
    review_campaigns,
    review_classes,
    send_to_gold_review,
    send_to_new_campaign,
)
from classifiers.console.versions import audit_log, get_version, promote_version, rollback_task, versions_by_task
from classifiers.drift.selectors import drift_nights, flagged_nights, night_detail, night_variables
from classifiers.models import ModelVersion, Task
from classifiers.runs.requests import DEMO_LABELS, request_fine_tune
from core.errors import ServiceError
from core.roles import MLLEAD, role_required
from frontend.plots.console import compare_plot_items, drift_plot_items
from labeling.expert_review import pending_expert_answers
from labeling.models import Campaign

TASKS = dict(Task.choices)
# (positive, negative) class names as the confusion matrices and plot notes say them.
CLASS_NAMES = {
    Task.REAL_BOGUS: ("real", "bogus"),
    Task.STREAKS: ("plausible streak", "other"),
    Task.RUBIN_REAL_BOGUS: ("real", "bogus"),
}


def _task(request, default: str = Task.REAL_BOGUS) -> str:
    task = request.GET.get("task") or request.POST.get("task") or default
    if task not in TASKS:
        raise Http404(f"unknown task {task!r}")
    return str(task)


def _back(request, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return fallback


@role_required(MLLEAD)
@require_GET
def overview(request):
    return render(
        request,
        "frontend/console/overview.html",
        {
            "tasks": versions_by_task(),
            "flagged": flagged_nights(limit=8),
            "audit": audit_log(limit=6),
            "pending_review": pending_expert_answers(limit=10),
            "section": "overview",
        },
    )


def _task_or_all(request) -> str | None:
    """The task a page is narrowed to (``?task=``), or None for every task."""
    task = request.GET.get("task") or None
    if task is not None and task not in TASKS:
        raise Http404(f"unknown task {task!r}")
    return task


@role_required(MLLEAD)
@require_GET
def versions(request):
    task = _task_or_all(request)
    return render(
        request,
        "frontend/console/versions.html",
        {
            "tasks": versions_by_task(task),
            "task": task,
            "all_tasks": TASKS,
            "audit": audit_log(task=task, limit=30),
            "label_sources": {task: list(campaigns_for_task(task)) for task in TASKS},
            "demo_labels": DEMO_LABELS,
            "section": "versions",
        },
    )


@role_required(MLLEAD)
@require_POST
def fine_tune(request, pk: int):
    """Queue a fine-tune of this version on the chosen labels; the loop page shows the run live."""
    version = get_object_or_404(ModelVersion.objects.defer("weights"), pk=pk)
    try:
        run, created = request_fine_tune(
            actor=request.user,
            version=version,
            labels=request.POST.get("labels", ""),
            epochs=request.POST.get("epochs", ""),
            freeze_conv=request.POST.get("freeze_conv") == "on",
        )
    except ServiceError as exc:
        messages.error(request, f"No fine-tune of {version.label} was queued: {exc.message}")
        return redirect(_back(request, reverse("console-versions")))
    if created:
        messages.success(request, f"Queued run #{run.pk}: a fine-tune of {version.label}. A worker picks it up.")
    else:
        messages.warning(request, f"A {run.task} training is already {run.status} (run #{run.pk}): nothing queued.")
    return redirect("ml-loop")


@role_required(MLLEAD)
@require_GET
def compare(request):
    try:
        a = get_version(request.GET.get("a"), "a")
        b = get_version(request.GET.get("b"), "b")
        result = compare_versions(a, b)
    except ServiceError as exc:
        messages.error(request, f"Cannot compare: {exc.message}")
        return redirect("console-versions")
    return render(
        request,
        "frontend/console/compare.html",
        {
            "r": result,
            "a": a,
            "b": b,
            "plots": compare_plot_items(a, b, result),
            "pos_name": CLASS_NAMES[a.task][0],
            "neg_name": CLASS_NAMES[a.task][1],
            "audit": audit_log(task=a.task, limit=10),
            "active": next((t["active"] for t in versions_by_task(a.task)), None),
            "section": "versions",
        },
    )


def _registry_change(request, change, *, refused: str, done) -> HttpResponse:
    """Run a promote or roll back and say how it went; back to where the form was."""
    try:
        version = change()
    except ServiceError as exc:
        messages.error(request, f"{refused}: {exc.message}")
    else:
        messages.success(request, done(version))
    return redirect(_back(request, reverse("console-versions")))


@role_required(MLLEAD)
@require_POST
def promote(request, pk: int):
    version = get_object_or_404(ModelVersion.objects.defer("weights"), pk=pk)
    return _registry_change(
        request,
        lambda: promote_version(actor=request.user, version=version, reason=request.POST.get("reason", "")),
        refused=f"{version.label} was not promoted",
        done=lambda v: f"{v.label} is now the active {v.get_task_display()} model.",
    )


@role_required(MLLEAD)
@require_POST
def rollback(request, task: str):
    if task not in TASKS:
        raise Http404(f"unknown task {task!r}")
    return _registry_change(
        request,
        lambda: rollback_task(actor=request.user, task=task, reason=request.POST.get("reason", "")),
        refused="Nothing was rolled back",
        done=lambda v: f"Rolled back: {v.label} is the active {TASKS[task]} model again.",
    )


@role_required(MLLEAD)
@require_GET
def slices(request):
    versions = list(ModelVersion.objects.defer("weights").order_by("task", "-version"))
    version = None
    if request.GET.get("version"):
        try:
            version = get_version(request.GET["version"])
        except ServiceError as exc:
            messages.error(request, exc.message)
    if version is None:
        version = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None) or (
            versions[0] if versions else None
        )
    return render(
        request,
        "frontend/console/slices.html",
        {
            "versions": versions,
            "version": version,
            "report": slice_report(version) if version is not None else None,
            "section": "slices",
        },
    )


@role_required(MLLEAD)
@require_GET
def disagreements(request):
    task = _task(request)
    campaigns = review_campaigns(task)
    campaign = None
    if request.GET.get("campaign"):
        campaign = Campaign.objects.filter(slug=request.GET["campaign"]).first()
    label = request.GET.get("label") or None
    return render(
        request,
        "frontend/console/disagreements.html",
        {
            "task": task,
            "tasks": TASKS,
            "result": find_disagreements(task, campaign=campaign, label=label),
            "campaigns": campaigns,
            "campaign": campaign,
            "label": label,
            "classes": review_classes(campaigns),
            "scientists": campaign_owner_choices(),
            "pending_review": pending_expert_answers(limit=20),
            "section": "disagreements",
        },
    )


def _ids(values) -> list[int]:
    return [int(v) for v in values if str(v).strip().isdigit()]


@role_required(MLLEAD)
@require_POST
def disagreements_send(request):
    task = _task(request)
    subject_ids = _ids(request.POST.getlist("subject"))
    try:
        if request.POST.get("target", "") == "new":
            campaign = send_to_new_campaign(
                actor=request.user,
                task=task,
                name=request.POST.get("name", ""),
                owner_username=request.POST.get("owner", ""),
                subject_ids=subject_ids,
            )
            messages.success(
                request,
                f"Created the draft campaign “{campaign.name}” ({campaign.owner.username}) with "
                f"{len(subject_ids)} candidate(s) for expert review.",
            )
        else:
            done = send_to_gold_review(
                actor=request.user, task=task, campaign_slug=request.POST.get("campaign", ""), subject_ids=subject_ids
            )
            messages.success(
                request,
                f"Sent {done['marked']} candidate(s) to “{done['campaign_name']}” for an expert answer "
                f"({done['added']} newly added to it, {done['already_answered']} already had one).",
            )
    except ServiceError as exc:
        messages.error(request, f"Nothing was sent: {exc.message}")
    return redirect(_back(request, f"{reverse('console-disagreements')}?task={task}"))


@role_required(MLLEAD)
@require_GET
def drift(request):
    task = _task(request)
    data = drift_nights(task)
    return render(
        request,
        "frontend/console/drift.html",
        {
            "task": task,
            "tasks": TASKS,
            "data": data,
            "plots": drift_plot_items(task, data),
            "flagged_count": sum(1 for n in data["nights"] if n["flagged"]),
            "section": "drift",
        },
    )


@role_required(MLLEAD)
@require_GET
def drift_night(request, night: str):
    task = _task(request)
    try:
        row = night_detail(task, night)
    except ServiceError as exc:
        raise Http404(exc.message) from exc
    return render(
        request,
        "frontend/console/drift_night.html",
        {"task": task, "row": row, "variables": night_variables(row), "section": "drift"},
    )


# Every console page lives under /ml/: (route below it, view, name).
PAGES = (
    ("", overview, "console"),
    ("versions/", versions, "console-versions"),
    ("compare/", compare, "console-compare"),
    ("versions/<int:pk>/promote/", promote, "console-promote"),
    ("versions/<int:pk>/fine-tune/", fine_tune, "console-fine-tune"),
    ("tasks/<str:task>/rollback/", rollback, "console-rollback"),
    ("slices/", slices, "console-slices"),
    ("disagreements/", disagreements, "console-disagreements"),
    ("disagreements/send/", disagreements_send, "console-disagreements-send"),
    ("drift/", drift, "console-drift"),
    ("drift/<str:night>/", drift_night, "console-drift-night"),
)
urlpatterns = [path(f"ml/{route}", view, name=name) for route, view, name in PAGES]
