"""The ML lead console: is the active model still good, is the new one better, has the sky changed under it?

Pages only read (``classifiers.console`` selectors, cached where they compute) and write through
``classifiers.console`` services — promote and roll back go to the registry, the one implementation. Drift is
read from stored ``DriftNight`` rows; nothing heavy runs on a request. Plots are bokeh ``json_item`` dicts in
``json_script`` blocks, embedded by ``frontend/static/frontend/js/console.js`` (no inline script).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from classifiers import console, console_plots
from classifiers.console import ConsoleError
from classifiers.drift import VARIABLES
from classifiers.models import ModelVersion, Task
from core.roles import ADMIN, MLLEAD, SCIENTIST, role_required
from labeling.models import Campaign

TASKS = dict(Task.choices)
# (positive, negative) class names as the confusion matrices and plot notes say them.
CLASS_NAMES = {Task.REAL_BOGUS: ("real", "bogus"), Task.STREAKS: ("plausible streak", "other")}


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
    tasks = console.versions_by_task()
    return render(
        request,
        "frontend/console/overview.html",
        {
            "tasks": tasks,
            "flagged": console.flagged_nights(limit=8),
            "audit": console.audit_log(limit=6),
            "pending_review": console.pending_expert_review(limit=10),
            "section": "overview",
        },
    )


@role_required(MLLEAD)
@require_GET
def versions(request):
    tasks = console.versions_by_task()
    return render(
        request,
        "frontend/console/versions.html",
        {"tasks": tasks, "audit": console.audit_log(limit=30), "section": "versions"},
    )


@role_required(MLLEAD)
@require_GET
def compare(request):
    try:
        a = console.get_version(request.GET.get("a"), "a")
        b = console.get_version(request.GET.get("b"), "b")
        result = console.compare_versions(a, b)
    except ConsoleError as exc:
        messages.error(request, f"Cannot compare: {exc.message}")
        return redirect("console-versions")
    plots = {}
    if result["metrics_a"] and result["metrics_a"]["n"]:
        key = console.inputs_key("compare-plots", a.pk, b.pk)
        plots = console_plots.plot_cache().get(key)
        if plots is None:
            plots = {
                "roc": console_plots.roc_figure(a.label, b.label, result["metrics_a"], result["metrics_b"]),
                "pr": console_plots.pr_figure(a.label, b.label, result["metrics_a"], result["metrics_b"]),
            }
            console_plots.plot_cache().set(key, plots)
    return render(
        request,
        "frontend/console/compare.html",
        {
            "r": result,
            "a": a,
            "b": b,
            "plots": plots,
            "pos_name": CLASS_NAMES[a.task][0],
            "neg_name": CLASS_NAMES[a.task][1],
            "audit": console.audit_log(task=a.task, limit=10),
            "active": next((t["active"] for t in console.versions_by_task() if t["task"] == a.task), None),
            "section": "versions",
        },
    )


@role_required(MLLEAD)
@require_POST
def promote(request, pk: int):
    version = get_object_or_404(ModelVersion.objects.defer("weights"), pk=pk)
    try:
        console.promote_version(actor=request.user, version=version, reason=request.POST.get("reason", ""))
    except ConsoleError as exc:
        messages.error(request, f"{version.label} was not promoted: {exc.message}")
    else:
        messages.success(request, f"{version.label} is now the active {version.get_task_display()} model.")
    return redirect(_back(request, "/ml/versions/"))


@role_required(MLLEAD)
@require_POST
def rollback(request, task: str):
    if task not in TASKS:
        raise Http404(f"unknown task {task!r}")
    try:
        version = console.rollback_task(actor=request.user, task=task, reason=request.POST.get("reason", ""))
    except ConsoleError as exc:
        messages.error(request, f"Nothing was rolled back: {exc.message}")
    else:
        messages.success(request, f"Rolled back: {version.label} is the active {TASKS[task]} model again.")
    return redirect(_back(request, "/ml/versions/"))


@role_required(MLLEAD)
@require_GET
def slices(request):
    versions = list(ModelVersion.objects.defer("weights").order_by("task", "-version"))
    chosen = request.GET.get("version")
    version = None
    if chosen:
        try:
            version = console.get_version(chosen)
        except ConsoleError as exc:
            messages.error(request, exc.message)
    if version is None:
        version = next((v for v in versions if v.status == ModelVersion.Status.ACTIVE), None) or (
            versions[0] if versions else None
        )
    report = console.slice_report(version) if version is not None else None
    return render(
        request,
        "frontend/console/slices.html",
        {"versions": versions, "version": version, "report": report, "section": "slices"},
    )


def _scientists():
    User = get_user_model()
    return User.objects.filter(is_active=True, groups__name__in=[SCIENTIST, ADMIN]).distinct().order_by("username")


@role_required(MLLEAD)
@require_GET
def disagreements(request):
    task = _task(request)
    campaigns = console.review_campaigns(task)
    campaign = None
    if request.GET.get("campaign"):
        campaign = Campaign.objects.filter(slug=request.GET["campaign"]).first()
    label = request.GET.get("label") or None
    result = console.disagreements(task, campaign=campaign, label=label)
    classes = []
    for c in campaigns:
        for cls in c.classes:
            if cls["key"] not in [k for k, _ in classes]:
                classes.append((cls["key"], cls.get("label", cls["key"])))
    return render(
        request,
        "frontend/console/disagreements.html",
        {
            "task": task,
            "tasks": TASKS,
            "result": result,
            "campaigns": campaigns,
            "campaign": campaign,
            "label": label,
            "classes": classes,
            "scientists": _scientists(),
            "pending_review": console.pending_expert_review(limit=20),
            "section": "disagreements",
        },
    )


def _ids(values) -> list[int]:
    out = []
    for v in values:
        try:
            out.append(int(v))
        except (TypeError, ValueError):
            continue
    return out


@role_required(MLLEAD)
@require_POST
def disagreements_send(request):
    task = _task(request)
    subject_ids = _ids(request.POST.getlist("subject"))
    target = request.POST.get("target", "")
    back = _back(request, f"/ml/disagreements/?task={task}")
    try:
        if target == "new":
            owner_name = request.POST.get("owner") or request.user.username
            owner = get_user_model().objects.filter(username=owner_name).first()
            campaign = console.send_to_new_campaign(
                actor=request.user, task=task, name=request.POST.get("name", ""), owner=owner, subject_ids=subject_ids
            )
            messages.success(
                request,
                f"Created the draft campaign “{campaign.name}” ({owner.username}) with {len(subject_ids)} "
                "candidate(s) for expert review.",
            )
        else:
            campaign = Campaign.objects.filter(slug=request.POST.get("campaign", "")).first()
            if campaign is None:
                raise ConsoleError("campaign", "choose a campaign, or create a new one")
            done = console.send_to_gold_review(
                actor=request.user, task=task, campaign=campaign, subject_ids=subject_ids
            )
            messages.success(
                request,
                f"Sent {done['marked']} candidate(s) to “{campaign.name}” for an expert answer "
                f"({done['added']} newly added to it, {done['already_answered']} already had one).",
            )
    except ConsoleError as exc:
        messages.error(request, f"Nothing was sent: {exc.message}")
    return redirect(back)


@role_required(MLLEAD)
@require_GET
def drift(request):
    task = _task(request)
    data = console.drift_nights(task)
    return render(
        request,
        "frontend/console/drift.html",
        {
            "task": task,
            "tasks": TASKS,
            "data": data,
            "plots": console_plots.drift_plot_items(task, data),
            "flagged_count": sum(1 for n in data["nights"] if n["flagged"]),
            "section": "drift",
        },
    )


@role_required(MLLEAD)
@require_GET
def drift_night(request, night: str):
    task = _task(request)
    try:
        row = console.drift_night(task, night)
    except ConsoleError as exc:
        raise Http404(exc.message) from exc
    variables = []
    for name, title in VARIABLES.items():
        if name not in row["percentiles"]:
            continue
        variables.append(
            {"name": name, "title": title, "bands": row["percentiles"][name], "stats": row["statistics"].get(name, {})}
        )
    return render(
        request,
        "frontend/console/drift_night.html",
        {"task": task, "row": row, "variables": variables, "section": "drift"},
    )


urlpatterns = [
    path("ml/", overview, name="console"),
    path("ml/versions/", versions, name="console-versions"),
    path("ml/compare/", compare, name="console-compare"),
    path("ml/versions/<int:pk>/promote/", promote, name="console-promote"),
    path("ml/tasks/<str:task>/rollback/", rollback, name="console-rollback"),
    path("ml/slices/", slices, name="console-slices"),
    path("ml/disagreements/", disagreements, name="console-disagreements"),
    path("ml/disagreements/send/", disagreements_send, name="console-disagreements-send"),
    path("ml/drift/", drift, name="console-drift"),
    path("ml/drift/<str:night>/", drift_night, name="console-drift-night"),
]
