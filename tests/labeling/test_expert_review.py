"""Sending subjects for an expert (gold-standard) answer: the subjects are added where missing, each carries its
note, an expert answer already given is kept, and a finished campaign takes nothing."""

from __future__ import annotations

import pytest

from core.errors import ServiceError
from labeling.expert_review import (
    NEEDS_EXPERT_PREFIX,
    expert_review_note,
    pending_expert_answers,
    subjects_send_for_expert_answer,
)
from labeling.models import Campaign, Subject


def _note(why: str) -> str:
    return expert_review_note(sender="mia", source="the ML console", reasons=[why])


def test_it_adds_missing_subjects_and_marks_each_with_its_note(live_campaign, demo_alerts):
    outside = demo_alerts[0]
    Subject.objects.filter(campaign=live_campaign, alert=outside).delete()
    inside = demo_alerts[1]
    done = subjects_send_for_expert_answer(
        actor=live_campaign.owner,
        campaign=live_campaign,
        notes={outside.pk: _note("v2 scored 0.91"), inside.pk: _note("v2 scored 0.12")},
    )
    assert done == {"campaign": live_campaign.slug, "added": 1, "marked": 2, "already_answered": 0}
    note = Subject.objects.get(campaign=live_campaign, alert=outside).gold_note
    assert note.startswith(f"{NEEDS_EXPERT_PREFIX} (sent from the ML console by mia on ")
    assert note.endswith("): v2 scored 0.91")
    assert {row["candid"] for row in pending_expert_answers()} == {outside.candid, inside.candid}


def test_an_expert_answer_already_given_is_kept(live_campaign, demo_alerts):
    answered = Subject.objects.get(campaign=live_campaign, alert=demo_alerts[2])
    answered.gold_answer, answered.gold_note = "real", "checked by hand"
    answered.save()
    done = subjects_send_for_expert_answer(
        actor=live_campaign.owner, campaign=live_campaign, notes={demo_alerts[2].pk: _note("v2 scored 0.2")}
    )
    assert (done["marked"], done["already_answered"]) == (0, 1)
    assert Subject.objects.get(pk=answered.pk).gold_note == "checked by hand"
    assert pending_expert_answers() == []


def test_a_finished_campaign_takes_no_more_subjects(live_campaign, demo_alerts):
    Campaign.objects.filter(pk=live_campaign.pk).update(state=Campaign.State.FINISHED)
    live_campaign.refresh_from_db()
    with pytest.raises(ServiceError, match="is finished") as refused:
        subjects_send_for_expert_answer(
            actor=live_campaign.owner, campaign=live_campaign, notes={demo_alerts[0].pk: _note("why")}
        )
    assert refused.value.field == "campaign"
    assert not Subject.objects.filter(campaign=live_campaign).exclude(gold_note="").exists()


def test_an_unknown_alert_is_refused_before_anything_is_written(live_campaign, demo_alerts):
    with pytest.raises(ServiceError, match="no alert with id 0"):
        subjects_send_for_expert_answer(
            actor=live_campaign.owner, campaign=live_campaign, notes={demo_alerts[0].pk: _note("a"), 0: _note("b")}
        )
    assert not Subject.objects.filter(campaign=live_campaign).exclude(gold_note="").exists()
