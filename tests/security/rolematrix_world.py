"""Fixture objects so every URL pattern with arguments resolves to something real, and the actors."""

from __future__ import annotations

import hashlib
import re

from django.apps import apps

ROLES = ("anon", "volunteer", "scientist", "mllead", "admin")


def build_role_world(*, live_campaign, demo_alerts, scientist, other_scientist, volunteer, mllead, admin_user):
    from classifiers.models import DriftNight, ModelVersion, ReferenceSet, TrainingRun
    from labeling.models import Campaign, FieldGuideEntry, Hashtag, Subject, TutorialStep
    from labeling.talk import comment_post

    alert = demo_alerts[0]
    step = TutorialStep.objects.create(campaign=live_campaign, order=1, title="Real", text="A point source.")
    entry = FieldGuideEntry.objects.create(campaign=live_campaign, order=1, answer="bogus", title="Bogus", text="x")
    subject = live_campaign.subjects.order_by("pk").first()
    comment_post(alert=alert, author=volunteer, body="Looks like a #supernova")
    weights = b"not a real keras file, never loaded here"
    version = ModelVersion.objects.create(
        task="real_bogus", version=1, architecture="vgg6", status="candidate", weights=weights,
        sha256=hashlib.sha256(weights).hexdigest(), size_bytes=len(weights), created_by=mllead,
    )  # fmt: skip
    run = TrainingRun.objects.create(task="real_bogus", status="failed", campaign=live_campaign, triggered_by=mllead)
    DriftNight.objects.create(task="real_bogus", version=None, night=alert.night, n_alerts=60)
    reference_set = ReferenceSet.objects.create(name="braai agreement", kind="braai_agreement", created_by=mllead)
    # A campaign of another scientist, open only to listed volunteers, for the object-level rules.
    private = Campaign.objects.create(
        name="Private", slug="private", owner=other_scientist, classes=live_campaign.classes,
        state=Campaign.State.LIVE, access=Campaign.Access.LISTED,
    )  # fmt: skip
    Subject.objects.create(campaign=private, alert=demo_alerts[1])
    rubin = _rubin_alert_with_a_plane(alert)
    kwargs = {
        "candid": alert.candid,
        "slug": live_campaign.slug,
        "pk": None,  # depends on the route: see kwargs_for
        "kind": None,
        "night": alert.night.isoformat(),
        "task": "real_bogus",
        "object_id": alert.object_id,
        "tag": Hashtag.objects.get().name,
        "plane": "variance",
    }
    return {
        "kwargs": kwargs,
        "alert": alert,
        "rubin": rubin,
        "step": step,
        "entry": entry,
        "subject": subject,
        "version": version,
        "run": run,
        "reference_set": reference_set,
        "private": private,
        "users": {
            "anon": None,
            "volunteer": volunteer,
            "scientist": scientist,
            "mllead": mllead,
            "admin": admin_user,
        },
    }


def _rubin_alert_with_a_plane(like):
    """A Rubin alert (a copy of ``like`` under another candid) whose science cutout has a variance plane: the
    routes of a cutout's planes answer 404 for a ZTF alert once past the guard."""
    import numpy as np

    from labeling.models import Alert, StampPlane, Stamps

    rubin = Alert.objects.get(pk=like.pk)
    rubin.pk = None
    rubin.candid = like.candid + 1_000_000_007
    rubin.survey = "rubin"
    rubin.object_id = "rolematrix-rubin"
    rubin.save()
    variance = np.full((21, 21), 4.0, dtype=np.float32)
    StampPlane.objects.create(
        alert=rubin, kind="science", plane="variance", height=21, width=21, data=Stamps.pack(variance)
    )
    return rubin


# Which object a route's <int:pk> means, by URL name.
PK_OF = {
    "api-campaign-tutorial-step": "step",
    "api-campaign-field-guide-entry": "entry",
    "api-campaign-subject-votes": "subject",
    "campaigns-subject": "subject",
    "campaigns-subject-gold": "subject",
    "api-model-version": "version",
    "api-model-promote": "version",
    "console-promote": "version",
    "console-fine-tune": "version",
    "api-training-run": "run",
    "api-training-run-events": "run",
    "api-loop-run": "run",
    "api-reference-set": "reference_set",
    "console-reference-set-delete": "reference_set",
}
# Routes whose <candid> is the Rubin alert's, not the world's (ZTF) alert.
RUBIN_ROUTES = {"api-alert-cutout-plane"}
KIND_OF = {
    "api-alert-cutout": "science",
    "api-alert-cutout-plane": "science",
    "api-alert-explanation": "saliency",
    "api-campaign-export": "workflow",
}


def url_for(route, world) -> str:
    """The concrete URL of a route with fixture objects filled in."""
    if route.is_admin:
        return "/" + _admin_url(route, world)
    values = dict(world["kwargs"])
    if route.name in PK_OF:
        values["pk"] = world[PK_OF[route.name]].pk
    if route.name in KIND_OF:
        values["kind"] = KIND_OF[route.name]
    if route.name in RUBIN_ROUTES:
        values["candid"] = world["rubin"].candid
    missing = [k for k, _ in route.converters if values.get(k) is None]
    if missing:
        raise LookupError(
            f"no fixture value for {missing} in {route.route} ({route.name}): add one to rolematrix_world"
        )
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route.route)


def _admin_url(route, world) -> str:
    text = route.route
    if route.is_regex:
        if "app_label" in text:
            return "admin/auth/"
        return "admin/no-such-page/"
    if "<" not in text:
        return text
    if text.startswith("admin/r/"):
        from django.contrib.contenttypes.models import ContentType

        from labeling.models import Alert

        return f"admin/r/{ContentType.objects.get_for_model(Alert).pk}/{world['alert'].pk}/"
    # admin/<app>/<model>/<path:object_id>/...: the pk of a row of that model (or a pk that does not exist).
    app_label, model_name = text.split("/")[1:3]
    model = apps.get_model(app_label, model_name)
    obj = model._default_manager.order_by("pk").first()
    pk = obj.pk if obj is not None else 999_999
    return re.sub(r"<(?:\w+:)?\w+>", str(pk), text)
