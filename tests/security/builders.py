"""A small but complete Blink world (every kind of row the backups and hostile-input tests protect)."""

from __future__ import annotations

import hashlib
import uuid

import numpy as np
from django.utils import timezone

from labeling.models import STREAK_CLASSES, Campaign, Comment, FieldGuideEntry, Hashtag, Subject, TutorialStep


def build_world(*, alerts, scientist, volunteers, mllead) -> dict:
    from classifiers.models import DriftNight, ModelVersion, RegistryEvent, Score, TrainingRun
    from labeling.votes import vote_record

    rb = Campaign.objects.get(slug="demo-real-bogus")
    rb.collaborators.add(mllead)
    rb.volunteers.add(volunteers[0])
    TutorialStep.objects.create(
        campaign=rb, order=1, title="Real", text="A **PSF** at the centre.", example_alert=alerts[0]
    )
    guide = FieldGuideEntry.objects.create(campaign=rb, order=1, answer="bogus", title="Bogus", text="Artefacts.")
    guide.examples.add(alerts[1], alerts[2])
    Subject.objects.filter(campaign=rb, alert=alerts[3]).update(gold_answer="real", gold_note="textbook SN")

    streak = Campaign.objects.create(
        name="Streaks",
        slug="streaks",
        owner=scientist,
        classes=STREAK_CLASSES,
        question_type="streak",
        state=Campaign.State.LIVE,
        access=Campaign.Access.LISTED,
        retire_after=2,
        selection={"fwhm": {"gt": 1.5}},
    )
    streak.volunteers.add(*volunteers)
    Subject.objects.bulk_create([Subject(campaign=streak, alert=a, random_key=0.5) for a in alerts[:10]])

    subjects = list(rb.subjects.order_by("pk")[:8])
    for i, subject in enumerate(subjects):
        for j, v in enumerate(volunteers):
            answer = "real" if (i + j) % 3 else "bogus"
            vote_record(
                campaign=rb,
                subject_id=subject.pk,
                volunteer=v,
                answer=answer,
                idempotency_key=uuid.uuid5(uuid.NAMESPACE_URL, f"{i}-{j}"),
                duration_ms=1000 + i,
            )
    Subject.objects.filter(pk=subjects[0].pk).update(weighted_label="real", weighted_posterior=0.91)

    comment = Comment.objects.create(alert=alerts[0], author=volunteers[0], body="Nice #sn", body_html="<p>Nice</p>")
    Hashtag.objects.create(name="sn").comments.add(comment)

    def version(number: int, weights: bytes, **fields) -> ModelVersion:
        return ModelVersion.objects.create(
            task="real_bogus",
            version=number,
            architecture="vgg6",
            weights=weights,
            sha256=hashlib.sha256(weights).hexdigest(),
            size_bytes=len(weights),
            created_by=mllead,
            **fields,
        )

    weights = np.random.default_rng(1).bytes(4096)
    v1 = version(1, weights, status="retired", metrics={"roc_auc": 0.93})
    v2 = version(2, weights[::-1], status="active", parent=v1, thresholds={"real": 0.5})
    RegistryEvent.objects.create(
        task="real_bogus", action="promote", version=v2, previous_active=v1, actor=mllead, reason="better AUC"
    )
    Score.objects.bulk_create(
        [
            Score(alert=a, version=v, score=(a.pk % 97) / 97.0, embedding=np.float16([a.pk, 1]).tobytes())
            for a in alerts
            for v in (v1, v2)
        ]
    )
    TrainingRun.objects.create(
        task="real_bogus",
        status="succeeded",
        campaign=rb,
        triggered_by=mllead,
        version=v2,
        progress=[{"epoch": 1, "loss": 0.5}],
        finished_at=timezone.now(),
    )
    DriftNight.objects.create(
        task="real_bogus",
        version=v2,
        night=alerts[0].night,
        n_alerts=60,
        percentiles={"score": {"p50": 0.4}},
        statistics={"score": {"psi": 0.01}},
    )
    return {"rb": rb, "streak": streak, "versions": (v1, v2)}
