"""The inspect table shows the active model's score of each subject and sorts by it; a streak campaign shows
the streak model's."""

from __future__ import annotations

import pytest

from classifiers.models import ModelVersion, Score
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = pytest.mark.django_db


def scored_version(task: str, alerts, scores, *, status: str = "active", version: int = 1) -> ModelVersion:
    model = ModelVersion.objects.create(
        task=task, version=version, architecture="vgg6", status=status, weights=b"-", sha256="0" * 64
    )
    Score.objects.bulk_create([Score(alert=a, version=model, score=s) for a, s in zip(alerts, scores, strict=True)])
    return model


def scores_in_order(api_for, scientist, campaign, sort: str) -> list[float | None]:
    page = api_for(scientist).get(f"/api/campaigns/{campaign.slug}/subjects/?sort={sort}").json()
    return [row["model_score"] for row in page["results"]]


def test_the_table_sorts_by_the_active_models_score(api_for, scientist):
    alerts = make_alerts(3, stamps=False)
    campaign = make_campaign(scientist, alerts)
    scored_version("real_bogus", alerts, [0.2, 0.9, 0.5])
    scored_version("real_bogus", alerts, [0.0, 0.0, 0.0], status="retired", version=2)  # not the active one
    assert scores_in_order(api_for, scientist, campaign, "-score") == [0.9, 0.5, 0.2]
    assert scores_in_order(api_for, scientist, campaign, "score") == [0.2, 0.5, 0.9]


def test_without_an_active_model_the_score_column_is_empty(api_for, scientist):
    alerts = make_alerts(2, stamps=False)
    campaign = make_campaign(scientist, alerts)
    assert scores_in_order(api_for, scientist, campaign, "-score") == [None, None]


def test_a_streak_campaign_shows_the_streak_models_score(api_for, scientist):
    alerts = make_alerts(2, stamps=False)
    campaign = make_campaign(scientist, alerts, slug="streaky", question_type="streak")
    scored_version("real_bogus", alerts, [0.1, 0.1])
    scored_version("streaks", alerts, [0.7, 0.3])
    assert scores_in_order(api_for, scientist, campaign, "-score") == [0.7, 0.3]
