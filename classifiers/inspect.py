"""The inspect table of a campaign with the active model's score of each subject.

``labeling.inspect`` filters, sorts and shapes the table; the score column comes from here, one subquery in
the same SQL, so sorting by score stays in the database.
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from classifiers.models import ModelVersion, Score, Task
from labeling import inspect as labeling_inspect
from labeling.models import Campaign, Subject


def scored_task(campaign: Campaign) -> str:
    """The task whose score a scientist sees: a streak campaign's subjects are judged by the streak model."""
    return Task.STREAKS if campaign.question_type == Campaign.QuestionType.STREAK else campaign.model_task


def active_score(campaign: Campaign) -> Subquery:
    """Each subject's score by the active version of the campaign's task (over the subject's ``alert_id``)."""
    return Subquery(
        Score.objects.filter(
            alert_id=OuterRef("alert_id"),
            version__task=scored_task(campaign),
            version__status=ModelVersion.Status.ACTIVE,
        )
        .order_by("-version__version")
        .values("score")[:1]
    )


def inspect_subjects(*, campaign: Campaign, **filters) -> QuerySet[Subject]:
    """``labeling.inspect.inspect_subjects`` with the model score filled in (and sortable)."""
    return labeling_inspect.inspect_subjects(campaign=campaign, model_score=active_score(campaign), **filters)
