"""Campaign services: who may create and edit, going live fixes the subjects, add matching, classes, gold."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from labeling.campaigns.services import (
    campaign_add_matching_alerts,
    campaign_create,
    campaign_set_state,
    campaign_update,
    field_guide_entry_create,
    subject_set_gold,
    subjects_set_gold,
    tutorial_step_create,
)
from labeling.campaigns.validation import CampaignError
from labeling.filters import random_unit
from labeling.models import REAL_BOGUS_CLASSES, STREAK_CLASSES, Alert, Campaign
from tests.labeling.campaign_helpers import bare_alerts

pytestmark = pytest.mark.django_db


def test_a_volunteer_cannot_create_a_campaign(volunteer):
    with pytest.raises(PermissionDenied):
        campaign_create(actor=volunteer, name="Mine")
    assert not Campaign.objects.exists()


def test_a_scientist_creates_a_draft_with_the_question_types_default_classes(scientist):
    rb = campaign_create(actor=scientist, name="Low rb", selection={"rb": {"gt": 0.2, "lt": 0.4}})
    streak = campaign_create(actor=scientist, name="Streaks", question_type="streak")
    assert rb.state == Campaign.State.DRAFT
    assert rb.owner == scientist
    assert rb.classes == REAL_BOGUS_CLASSES
    assert [c["key"] for c in streak.classes] == [c["key"] for c in STREAK_CLASSES]
    assert rb.slug == "low-rb"
    assert rb.selection == {"rb": {"gt": 0.2, "lt": 0.4}}


def test_an_admin_can_create_and_edit_anyones_campaign(scientist, admin_user):
    campaign = campaign_create(actor=scientist, name="Theirs")
    campaign_update(actor=admin_user, campaign=campaign, name="Renamed by admin")
    campaign.refresh_from_db()
    assert campaign.name == "Renamed by admin"


def test_a_scientist_cannot_edit_another_scientists_campaign_unless_a_collaborator(scientist, other_scientist):
    campaign = campaign_create(actor=scientist, name="Mine")
    with pytest.raises(PermissionDenied):
        campaign_update(actor=other_scientist, campaign=campaign, name="Stolen")
    campaign_update(actor=scientist, campaign=campaign, collaborators=[other_scientist.username])
    campaign_update(actor=other_scientist, campaign=campaign, name="Shared")
    campaign.refresh_from_db()
    assert campaign.name == "Shared"
    with pytest.raises(PermissionDenied):  # only the owner decides who collaborates
        campaign_update(actor=other_scientist, campaign=campaign, collaborators=[])


def test_a_collaborator_must_be_a_scientist(scientist, volunteer):
    with pytest.raises(CampaignError) as caught:
        campaign_create(actor=scientist, name="X", collaborators=[volunteer.username])
    assert caught.value.field == "collaborators"


def two_classes(first: dict | None = None, second: dict | None = None) -> list[dict]:
    """Two valid custom classes, a and b, with ``first`` and ``second`` changing some of their attributes."""
    return [
        {"key": "a", "label": "A", "shortcut": "1", **(first or {})},
        {"key": "b", "label": "B", "shortcut": "2", **(second or {})},
    ]


@pytest.mark.parametrize(
    ("classes", "field", "fragment"),
    [
        (two_classes()[:1], "classes", "two classes"),
        (two_classes(second={"key": "a"}), "classes[1].key", "used twice"),
        (two_classes(second={"shortcut": "1"}), "classes[1].shortcut", "used twice"),
        (two_classes({"shortcut": "s"}), "classes[0].shortcut", "kept for skip"),
        (two_classes({"key": "skip"}), "classes[0].key", "always offered"),
        (two_classes({"key": "Bad Key"}), "classes[0].key", "lowercase"),
        (two_classes({"label": ""}), "classes[0].label", "1-100"),
        (two_classes({"shortcut": "12"}), "classes[0].shortcut", "single key"),
    ],
)
def test_custom_classes_are_validated_with_the_field_named(scientist, classes, field, fragment):
    with pytest.raises(CampaignError) as caught:
        campaign_create(actor=scientist, name="Custom", question_type="custom", classes=classes)
    assert caught.value.field == field
    assert fragment in caught.value.message


def test_custom_classes_with_keys_and_shortcuts_are_kept(scientist):
    classes = [
        {"key": "sn", "label": "Supernova", "shortcut": "1", "description": "On a galaxy"},
        {"key": "var", "label": "Variable star", "shortcut": "V"},
    ]
    campaign = campaign_create(actor=scientist, name="Custom", question_type="custom", classes=classes)
    assert campaign.answer_keys == ["sn", "var"]
    assert campaign.classes[1]["shortcut"] == "v"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"retire_after": 0}, "retire_after"),
        ({"retire_after": 5, "retire_agree_k": 6}, "retire_agree_k"),
        ({"retire_agree_k": 3, "retire_agree_fraction": 1.5}, "retire_agree_fraction"),
        ({"retire_agree_fraction": 0.8}, "retire_agree_fraction"),
        ({"gold_share": 2}, "gold_share"),
        ({"selection": {"rb": {"gt": 0.5, "lt": 0.1}}}, "selection.rb"),
        ({"selection": {"bogus_field": 1}}, "selection.bogus_field"),
        ({"sample_size": 0}, "sample_size"),
        ({"access": "nobody"}, "access"),
        ({"volunteers": ["no-such-user"]}, "volunteers"),
    ],
)
def test_invalid_settings_name_the_field(scientist, settings, field):
    with pytest.raises(CampaignError) as caught:
        campaign_create(actor=scientist, name="Bad", **settings)
    assert caught.value.field == field
    assert not Campaign.objects.exists()


def test_going_live_fixes_the_subjects_from_the_filter_once(scientist):
    bare_alerts(40)
    campaign = campaign_create(actor=scientist, name="Half", selection={"rb": {"lt": 0.2}})
    expected = set(Alert.objects.filter(rb__lt=0.2).values_list("pk", flat=True))
    campaign_set_state(actor=scientist, campaign=campaign, state="live")
    subjects = list(campaign.subjects.select_related("alert"))
    assert {s.alert_id for s in subjects} == expected
    assert all(s.random_key == random_unit(s.alert.candid, campaign.sample_seed) for s in subjects)
    assert len({s.random_key for s in subjects}) == len(subjects)
    # Alerts ingested later do not slip in by pausing and resuming.
    bare_alerts(5, start=9_100_000_000_000, rb=0.01)
    campaign_set_state(actor=scientist, campaign=campaign, state="paused")
    campaign_set_state(actor=scientist, campaign=campaign, state="live")
    assert campaign.subjects.count() == len(expected)


def test_the_selection_cannot_change_once_live(scientist):
    bare_alerts(10)
    campaign = campaign_create(actor=scientist, name="Fixed", selection={"rb": {"lt": 0.5}})
    campaign_set_state(actor=scientist, campaign=campaign, state="live")
    with pytest.raises(CampaignError) as caught:
        campaign_update(actor=scientist, campaign=campaign, selection={"rb": {"lt": 0.9}})
    assert caught.value.field == "selection"
    campaign_update(actor=scientist, campaign=campaign, description="still editable")


def test_a_seeded_sample_picks_the_same_alerts_for_the_same_seed(scientist):
    bare_alerts(60)
    a = campaign_create(actor=scientist, name="A", sample_size=12, sample_seed=5)
    b = campaign_create(actor=scientist, name="B", sample_size=12, sample_seed=5)
    c = campaign_create(actor=scientist, name="C", sample_size=12, sample_seed=6)
    for campaign in (a, b, c):
        campaign_set_state(actor=scientist, campaign=campaign, state="live")
    picked = [set(x.subjects.values_list("alert_id", flat=True)) for x in (a, b, c)]
    assert len(picked[0]) == 12
    assert picked[0] == picked[1]
    assert picked[0] != picked[2]


def test_a_campaign_with_no_matching_alert_cannot_go_live(scientist):
    bare_alerts(5)
    campaign = campaign_create(actor=scientist, name="Empty", selection={"rb": {"gt": 0.99}})
    with pytest.raises(CampaignError, match="no alert matches"):
        campaign_set_state(actor=scientist, campaign=campaign, state="live")
    campaign.refresh_from_db()
    assert campaign.state == "draft"
    assert not campaign.subjects.exists()


def test_state_transitions_follow_the_rules(scientist, other_scientist):
    bare_alerts(3)
    campaign = campaign_create(actor=scientist, name="States")
    with pytest.raises(CampaignError):
        campaign_set_state(actor=scientist, campaign=campaign, state="paused")  # draft cannot pause
    with pytest.raises(PermissionDenied):
        campaign_set_state(actor=other_scientist, campaign=campaign, state="live")
    campaign_set_state(actor=scientist, campaign=campaign, state="live")
    campaign_set_state(actor=scientist, campaign=campaign, state="finished")
    with pytest.raises(CampaignError):
        campaign_set_state(actor=scientist, campaign=campaign, state="live")  # finished is final


def test_add_matching_adds_only_new_alerts_that_match(scientist):
    bare_alerts(20)
    campaign = campaign_create(actor=scientist, name="Grow", selection={"fid": 1})
    campaign_set_state(actor=scientist, campaign=campaign, state="live")
    before = campaign.subjects.count()
    assert before == 10
    bare_alerts(6, start=9_200_000_000_000)  # 3 with fid 1, 3 with fid 2
    assert campaign_add_matching_alerts(actor=scientist, campaign=campaign) == 3
    assert campaign_add_matching_alerts(actor=scientist, campaign=campaign) == 0
    assert campaign.subjects.count() == before + 3
    assert not campaign.subjects.filter(alert__fid=2).exists()


def test_tutorial_steps_and_field_guide_entries_take_example_alerts(scientist, other_scientist):
    alerts = bare_alerts(4)
    campaign = campaign_create(actor=scientist, name="Guide")
    step = tutorial_step_create(
        actor=scientist, campaign=campaign, title="Look", text="At the centre", example_candid=alerts[0].candid
    )
    entry = field_guide_entry_create(
        actor=scientist,
        campaign=campaign,
        title="Real",
        text="Round",
        answer="real",
        example_candids=[a.candid for a in alerts[1:3]],
    )
    assert step.example_alert == alerts[0]
    assert step.order == 0
    assert set(entry.examples.values_list("candid", flat=True)) == {alerts[1].candid, alerts[2].candid}
    with pytest.raises(CampaignError) as caught:
        field_guide_entry_create(actor=scientist, campaign=campaign, title="X", text="Y", answer="maybe")
    assert caught.value.field == "answer"
    with pytest.raises(CampaignError) as caught:
        tutorial_step_create(actor=scientist, campaign=campaign, title="X", text="Y", example_candid=123)
    assert caught.value.field == "example_candid"
    with pytest.raises(PermissionDenied):
        tutorial_step_create(actor=other_scientist, campaign=campaign, title="X", text="Y")


def test_gold_answers_must_be_one_of_the_classes(scientist):
    bare_alerts(3)
    campaign = campaign_create(actor=scientist, name="Gold")
    campaign_set_state(actor=scientist, campaign=campaign, state="live")
    subject = campaign.subjects.first()
    subject_set_gold(actor=scientist, subject=subject, answer="bogus", note="a cosmic ray")
    subject.refresh_from_db()
    assert subject.gold_answer == "bogus"
    assert subject.is_gold
    with pytest.raises(CampaignError):
        subject_set_gold(actor=scientist, subject=subject, answer="skip")
    subject_set_gold(actor=scientist, subject=subject, answer="")
    subject.refresh_from_db()
    assert not subject.is_gold


def test_gold_answers_for_many_subjects_are_all_or_nothing_and_keep_their_notes(scientist):
    bare_alerts(4)
    campaign = campaign_create(actor=scientist, name="Gold")
    campaign_set_state(actor=scientist, campaign=campaign, state="live")
    first, second = campaign.subjects.order_by("pk")[:2]
    with pytest.raises(CampaignError) as caught:
        subjects_set_gold(actor=scientist, campaign=campaign, answers={first.pk: "real", 10**9: "bogus"})
    assert caught.value.field == "subject"
    assert not campaign.subjects.exclude(gold_answer="").exists()
    answers = {first.pk: "real", second.pk: "bogus"}
    assert subjects_set_gold(actor=scientist, campaign=campaign, answers=answers, notes={second.pk: "a ghost"}) == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.gold_answer, first.gold_note) == ("real", "")
    assert (second.gold_answer, second.gold_note) == ("bogus", "a ghost")
