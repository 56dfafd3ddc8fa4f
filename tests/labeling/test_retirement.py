"""Retirement rules at their edges: exactly N votes, k of n above a fraction, skips never counting."""

from __future__ import annotations

import pytest

from labeling.models import Campaign, Subject
from labeling.votes import VoteRefused, retirement_reason
from tests.labeling.campaign_helpers import bare_alerts, cast, make_volunteers


def rule(retire_after=5, k=None, fraction=None) -> Campaign:
    return Campaign(retire_after=retire_after, retire_agree_k=k, retire_agree_fraction=fraction)


R, B, S = "real", "bogus", "skip"


@pytest.mark.parametrize(
    ("campaign", "answers", "retires"),
    [
        # retire after N: one short, exactly at N
        (rule(3), [R, B], False),
        (rule(3), [R, B, B], True),
        (rule(1), [B], True),
        # skips never count as votes, whatever their number
        (rule(3), [R, S, S, S, B], False),
        (rule(3), [S, S, S, S], False),
        (rule(3), [R, S, B, S, R], True),
        # k of n with a fraction: 4 of 5 agree is exactly 0.8
        (rule(10, 4, 0.8), [R, R, R, R, B], True),
        (rule(10, 4, 0.8), [R, R, R, R], True),
        (rule(10, 4, 0.8), [R, R, R, B], False),  # 3 agree: below k
        (rule(10, 4, 0.8), [R, R, R, R, B, B], False),  # 4 of 6 = 0.67 < 0.8
        (rule(10, 4, 0.8), [R, R, R, R, R, B], True),  # 5 of 6 = 0.83
        (rule(10, 4, 0.8), [R, R, R, R, S, S, B], True),  # skips do not dilute the fraction
        (rule(10, 7, 0.7), [R] * 7 + [B] * 3, True),  # 7 of 10 is exactly 0.7
        (rule(10, 7, 0.7), [R] * 7 + [B] * 4, True),  # 11 votes reach N = 10 anyway
        (rule(20, 7, 0.7), [R] * 7 + [B] * 4, False),  # 7 of 11 = 0.636
        # k without a fraction: the first label to reach k retires
        (rule(10, 3), [R, B, R, B, R], True),
        (rule(10, 3), [R, B, R, B], False),
        # fraction 1.0: unanimity
        (rule(10, 3, 1.0), [B, B, B], True),
        (rule(10, 3, 1.0), [B, B, B, R], False),
    ],
)
def test_retirement_reason_at_the_edges(campaign, answers, retires):
    assert bool(retirement_reason(campaign=campaign, answers=answers)) is retires


def test_the_reason_says_which_rule_fired():
    assert retirement_reason(campaign=rule(3), answers=[R, B, B]) == "reached 3 votes"
    assert retirement_reason(campaign=rule(10, 4, 0.8), answers=[B, B, B, B, R]) == "4 of 5 agree on bogus"


@pytest.fixture
def small_campaign(db, scientist):
    alerts = bare_alerts(3)
    campaign = Campaign.objects.create(
        name="Edges",
        slug="edges",
        owner=scientist,
        classes=[
            {"key": "real", "label": "Real", "shortcut": "r"},
            {"key": "bogus", "label": "Bogus", "shortcut": "b"},
        ],
        state=Campaign.State.LIVE,
        retire_after=3,
        retire_agree_k=2,
        retire_agree_fraction=1.0,
    )
    subjects = Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts])
    return campaign, subjects


def test_a_subject_retires_on_the_vote_that_meets_the_rule_and_refuses_more(small_campaign, django_user_model):
    campaign, (subject, *_rest) = small_campaign
    people = make_volunteers(django_user_model, 5)
    cast(campaign, subject, people[0], R)
    cast(campaign, subject, people[1], S)
    subject.refresh_from_db()
    assert not subject.retired
    assert subject.n_votes == 1
    assert subject.n_classifications == 2
    outcome = cast(campaign, subject, people[2], R)  # 2 of 2 agree, fraction 1.0
    assert outcome.subject.retired
    subject.refresh_from_db()
    assert subject.retired
    assert subject.retired_reason == "2 of 2 agree on real"
    assert subject.majority_label == R
    assert subject.majority_fraction == 1.0
    with pytest.raises(VoteRefused) as caught:
        cast(campaign, subject, people[3], B)
    assert caught.value.status == 409
    subject.refresh_from_db()
    assert subject.n_classifications == 3


def test_disagreement_runs_to_the_vote_limit(small_campaign, django_user_model):
    campaign, (_first, subject, _third) = small_campaign
    people = make_volunteers(django_user_model, 4)
    cast(campaign, subject, people[0], R)
    cast(campaign, subject, people[1], B)
    subject.refresh_from_db()
    assert not subject.retired
    cast(campaign, subject, people[2], B)  # 2 of 3 agree (0.67 < 1.0), but 3 votes reach N
    subject.refresh_from_db()
    assert subject.retired
    assert subject.retired_reason == "reached 3 votes"


def test_retired_subjects_leave_the_queue_at_once(small_campaign, django_user_model):
    queue = pytest.importorskip("labeling.queue", reason="the next-subject selector (labeling.queue) is not here yet")
    campaign, subjects = small_campaign
    people = make_volunteers(django_user_model, 3)
    cast(campaign, subjects[0], people[0], R)
    cast(campaign, subjects[0], people[1], R)  # retires
    served = queue.next_subjects(campaign=campaign, volunteer=people[2], n=10)
    served_ids = {s.pk for s in served}
    assert subjects[0].pk not in served_ids
    assert served_ids == {subjects[1].pk, subjects[2].pk}
