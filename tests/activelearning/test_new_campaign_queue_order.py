"""A campaign that goes live has its queue ordered at once (through labeling's ``campaign_went_live`` signal), so
the loop's "Last reordered" is never "never" for a live campaign."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from activelearning.models import QueueOrdering
from activelearning.selectors import campaign_rows
from labeling.campaigns.services import campaign_create, campaign_set_state
from labeling.models import Campaign


# Committed for real: the signal is sent after the commit, and the worker below closes its connections.
@pytest.mark.django_db(transaction=True)
def test_going_live_orders_the_new_campaigns_queue(scientist, demo_alerts):
    from django_tasks_db.models import DBTaskResult

    campaign = campaign_create(actor=scientist, name="Fresh campaign", selection={"fid": 1})
    campaign = campaign_set_state(actor=scientist, campaign=campaign, state=Campaign.State.LIVE)
    assert campaign.subjects.exists()

    queued = DBTaskResult.objects.filter(task_path="activelearning.tasks.reorder_campaign", status="READY")
    assert [task.args_kwargs["kwargs"] for task in queued] == [{"campaign_id": campaign.pk}]
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--queue-name", "*", verbosity=0)

    ordering = QueueOrdering.objects.get(campaign=campaign)
    assert ordering.n_subjects == campaign.subjects.count()
    row = next(r for r in campaign_rows() if r["slug"] == campaign.slug)
    assert row["last_ordering"] is not None


@pytest.mark.django_db
def test_pausing_and_resuming_does_not_reorder_again(scientist, demo_alerts, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    campaign = campaign_create(actor=scientist, name="Paused campaign", selection={"fid": 2})
    with django_capture_on_commit_callbacks(execute=True):
        for state in (Campaign.State.LIVE, Campaign.State.PAUSED, Campaign.State.LIVE):
            campaign = campaign_set_state(actor=scientist, campaign=campaign, state=state)
    assert DBTaskResult.objects.filter(task_path="activelearning.tasks.reorder_campaign").count() == 1
