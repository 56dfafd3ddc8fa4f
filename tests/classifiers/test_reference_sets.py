"""Reference sets: every version is scored once on each named set, the figures are the same on every page, and
auto-promotion refuses a candidate that forgets what a guarding set measures, saying which set and by how much."""

from __future__ import annotations

import re
from html import escape

import numpy as np
import pytest
from django.urls import reverse

from classifiers.models import ModelVersion, ReferenceSet, TrainingRun, VersionEvaluation
from classifiers.preprocessing import load_inputs
from classifiers.reference_sets import (
    BRAAI_NOTE,
    ReferenceSetRefused,
    create_reference_set,
    evaluate_version,
    promotion_guard,
    reference_figures,
    set_content,
)
from classifiers.registry import recipe_of
from classifiers.runs.requests import request_run
from classifiers.runs.worker import execute_run
from classifiers.scoring import score_inputs
from labeling.backups.scope import backed_up_models
from labeling.models import Alert, Campaign, Subject
from tests.conftest import register_untrained_braai


def _scores(version, alert_ids):
    scores, _, _ = score_inputs(version, load_inputs(alert_ids, recipe=recipe_of(version)))
    return np.asarray(scores, dtype=np.float64)


def _gold_following(version, campaign):
    """Gold answers that ``version`` ranks perfectly (its upper half real): its ROC AUC on them is 1, another
    version's is whatever its own ranking gives."""
    subjects = list(campaign.subjects.select_related("alert").order_by("pk"))
    scores = _scores(version, [s.alert_id for s in subjects])
    median = float(np.median(scores))
    for subject, score in zip(subjects, scores, strict=True):
        subject.gold_answer = "real" if score > median else "bogus"
    Subject.objects.bulk_update(subjects, ["gold_answer"])


@pytest.fixture
def active(braai_version):
    return braai_version


@pytest.fixture
def gold_set(mllead, live_campaign, active):
    _gold_following(active, live_campaign)
    return create_reference_set(actor=mllead, name="expert gold", kind="gold", campaign=live_campaign, margin=0.02)


@pytest.fixture
def braai_set(mllead, demo_alerts):
    """Half the demo alerts turned into real survey alerts with a confident drb; the other half keep their demo
    truth and a drb of their own, which the set must ignore."""
    real, demo = demo_alerts[::2], demo_alerts[1::2]
    for i, alert in enumerate(real):
        Alert.objects.filter(pk=alert.pk).update(demo_truth="", drb=0.95 if i % 2 else 0.05)
    Alert.objects.filter(pk__in=[a.pk for a in demo]).update(drb=0.99)
    return create_reference_set(actor=mllead, name="braai agreement", kind="braai_agreement", guards_promotion=False)


def test_the_guard_refuses_a_candidate_that_forgets_and_names_the_set_and_both_figures(gold_set, active):
    candidate = register_untrained_braai(seed=11)
    ok, reason = promotion_guard(candidate, active)
    figures = {v: evaluate_version(v)["expert gold"]["roc_auc"] for v in (candidate, active)}
    assert figures[active] == 1.0
    assert figures[candidate] < 1.0 - gold_set.margin
    assert ok is False
    assert reason == (
        f"loses {1.0 - figures[candidate]:.3f} ROC AUC on 'expert gold' "
        f"({figures[candidate]:.3f} vs 1.000), more than its margin 0.02"
    )


def test_a_set_that_does_not_guard_promotion_never_blocks_it(gold_set, active):
    gold_set.guards_promotion = False
    gold_set.save()
    ok, reason = promotion_guard(register_untrained_braai(seed=11), active)
    assert ok is True
    assert reason == "no reference set guards promotion"


def test_a_version_is_scored_once_per_content_of_a_set(gold_set, active, monkeypatch):
    from classifiers import reference_sets

    evaluate_version(active)  # the set's creation already scored the active version
    calls = []
    monkeypatch.setattr(reference_sets, "score_inputs", lambda *a, **k: calls.append(1) or score_inputs(*a, **k))
    evaluate_version(active)
    assert calls == []
    Subject.objects.filter(campaign=gold_set.campaign).order_by("pk").update(gold_answer="real")
    Subject.objects.filter(pk=Subject.objects.filter(campaign=gold_set.campaign).order_by("pk").first().pk).update(
        gold_answer="bogus"
    )
    evaluate_version(active)
    assert calls == [1]
    stored = VersionEvaluation.objects.get(version=active, reference_set=gold_set)
    assert stored.fingerprint == set_content(gold_set).fingerprint
    assert stored.metrics["n"] == gold_set.campaign.subjects.count()


def test_the_braai_agreement_set_takes_real_alerts_only_and_says_it_is_a_model_opinion(braai_set):
    content = set_content(braai_set)
    real = Alert.objects.filter(demo_truth="")
    assert sorted(content.alert_ids) == sorted(real.values_list("pk", flat=True))
    assert content.y.tolist() == [1.0 if a.drb > 0.9 else 0.0 for a in real.order_by("pk")]
    assert "a model's opinion, not human labels" in BRAAI_NOTE
    assert "braai's drb" in braai_set.get_kind_display()


def test_every_candidate_is_scored_on_every_set_when_its_training_ends_and_the_guard_shows_on_the_loop(
    settings, gold_set, braai_set, active, mllead, api_for
):
    # The held-out comparison lets anything through here, so the decision is the reference sets' alone.
    settings.BLINK = {**settings.BLINK, "PROMOTE_MARGIN": 1.0}
    run, _ = request_run(
        task="real_bogus", options={"epochs": 1, "batch_size": 32, "promote": "if_not_worse"}, enqueue=False
    )
    outcome = execute_run(run.pk)
    run.refresh_from_db()
    candidate = run.version
    assert outcome["promoted"] is False
    assert candidate.status == ModelVersion.Status.CANDIDATE
    named = VersionEvaluation.objects.filter(version=candidate).exclude(reference_set__kind="heldout")
    assert set(named.values_list("reference_set__name", flat=True)) == {"expert gold", "braai agreement"}
    evaluated = next(e for e in run.progress if e["phase"] == "evaluated")
    stored = reference_figures([candidate, active])
    for side, version in (("candidate", candidate), ("active", active)):
        assert evaluated["metrics"]["reference_sets"][side] == {f["name"]: f for f in stored[version.pk]}
    kept = run.progress[-1]
    assert kept["phase"] == "kept"
    assert re.search(
        r"loses \d\.\d{3} ROC AUC on 'expert gold' \(\d\.\d{3} vs 1\.000\), more than its margin", kept["reason"]
    )
    detail = api_for(mllead).get(reverse("api-loop-run", args=[run.pk])).json()
    assert detail["decision"]["reason"] == kept["reason"]


def test_the_versions_compare_and_loop_pages_show_the_same_figures(
    gold_set, braai_set, active, mllead, client_for, api_for
):
    candidate = register_untrained_braai(seed=11)
    for version in (active, candidate):
        evaluate_version(version)
    figures = reference_figures([active, candidate])

    def shown(f):
        return (
            f'ROC AUC <strong class="ref-auc">{f["roc_auc"]:.3f}</strong> · accuracy {f["accuracy"]:.3f} · n {f["n"]}'
        )

    client = client_for(mllead)
    versions_page = client.get(reverse("console-versions")).content.decode()
    compare_page = client.get(reverse("console-compare"), {"a": active.pk, "b": candidate.pk}).content.decode()
    loop_page = client.get(reverse("ml-loop")).content.decode()
    for page in (versions_page, compare_page):
        for version in (active, candidate):
            for f in figures[version.pk]:
                assert shown(f) in page
        assert escape(BRAAI_NOTE) in page
    for f in figures[active.pk]:
        assert shown(f) in loop_page
    assert escape(BRAAI_NOTE) in loop_page
    overview = api_for(mllead).get(reverse("api-loop")).json()
    task = next(t for t in overview["tasks"] if t["task"] == "real_bogus")
    assert task["active"]["reference"] == figures[active.pk]


def test_an_ml_lead_names_lists_and_deletes_sets_through_the_api(mllead, scientist, live_campaign, api_for):
    api = api_for(mllead)
    url = reverse("api-reference-sets")
    made = api.post(url, {"name": "gold", "kind": "gold", "campaign": live_campaign.slug, "margin": 0.05})
    assert made.status_code == 201, made.json()
    assert (made.json()["campaign"], made.json()["margin"], made.json()["guards_promotion"]) == (
        live_campaign.slug,
        0.05,
        True,
    )
    braai = api.post(url, {"name": "braai", "kind": "braai_agreement", "guards_promotion": False}).json()
    assert braai["model_opinion"] is True
    assert braai["note"] == BRAAI_NOTE
    assert [s["name"] for s in api.get(url).json()] == ["braai", "gold"]
    changed = api.patch(reverse("api-reference-set", args=[braai["id"]]), {"guards_promotion": True}, format="json")
    assert changed.json()["guards_promotion"] is True
    assert api.delete(reverse("api-reference-set", args=[braai["id"]])).status_code == 204
    assert list(ReferenceSet.objects.values_list("name", flat=True)) == ["gold"]
    assert api_for(scientist).get(url).status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "kind": "gold"}, "campaign"),
        ({"name": "x", "kind": "gold", "campaign": "nowhere"}, "campaign"),
        ({"name": "x", "kind": "gold", "campaign": "streaky"}, "campaign"),
        ({"name": "x", "kind": "braai_agreement", "campaign": "demo-real-bogus"}, "campaign"),
        ({"name": "x", "kind": "braai_agreement", "task": "streaks"}, "task"),
        ({"name": "x", "kind": "opinions"}, "kind"),
        ({"name": "x", "kind": "braai_agreement", "margin": 3}, "margin"),
    ],
)
def test_a_bad_set_is_refused_with_the_field_named(mllead, scientist, live_campaign, api_for, body, field):
    Campaign.objects.create(name="Streaks", slug="streaky", owner=scientist, question_type="streak")
    answer = api_for(mllead).post(reverse("api-reference-sets"), body)
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert not ReferenceSet.objects.exists()


def test_a_taken_name_is_refused(mllead, db):
    create_reference_set(actor=mllead, name="braai", kind="braai_agreement")
    with pytest.raises(ReferenceSetRefused, match="already named"):
        create_reference_set(actor=mllead, name="braai", kind="braai_agreement")


def test_backups_carry_the_sets_and_the_evaluations():
    assert {ReferenceSet, VersionEvaluation} <= set(backed_up_models())
    assert TrainingRun in backed_up_models()


def test_an_ml_lead_names_and_deletes_a_set_on_the_console_page(mllead, live_campaign, client_for):
    client = client_for(mllead)
    made = client.post(
        reverse("console-reference-set-create"),
        {"name": "braai", "kind": "braai_agreement", "margin": "0.03", "guards_promotion": "on"},
        follow=True,
    )
    assert "Reference set “braai” named" in made.content.decode()
    assert escape(BRAAI_NOTE) in client.get(reverse("console-reference-sets")).content.decode()
    refused = client.post(
        reverse("console-reference-set-create"), {"name": "gold", "kind": "gold"}, follow=True
    ).content.decode()
    assert "No set was named: a gold set needs the campaign" in refused
    braai = ReferenceSet.objects.get()
    assert (braai.margin, braai.guards_promotion, braai.created_by) == (0.03, True, mllead)
    delete = reverse("console-reference-set-delete", args=[braai.pk])
    client.post(delete, {})
    assert ReferenceSet.objects.exists()  # a post that does not name the set deletes nothing
    client.post(delete, {"confirm": "braai"})
    assert not ReferenceSet.objects.exists()
