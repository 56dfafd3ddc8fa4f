"""The loop's management command: reordering queues by hand."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from activelearning.models import QueueOrdering


def test_reorder_queues_orders_every_campaign_and_names_unknown_ones(live_campaign, capsys):
    call_command("reorder_queues")
    assert QueueOrdering.objects.filter(campaign=live_campaign).count() == 1
    assert "60 subjects" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no campaign with slug nope"):
        call_command("reorder_queues", "--campaign", "nope")
