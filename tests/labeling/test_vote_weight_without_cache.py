"""A vote's weight is cached (Redis in production) only to spare a query: with the cache unreachable the weight
still comes from the database, so a vote is stored through a Redis outage (bench/faults.py, redis_stop)."""

from __future__ import annotations

import pytest

from labeling import consensus


class UnreachableCache:
    def get(self, *args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    set = get


@pytest.mark.django_db
def test_a_vote_weight_is_known_with_the_cache_down(monkeypatch, live_campaign, volunteer, scientist):
    monkeypatch.setattr(consensus, "cache", UnreachableCache())
    assert consensus.vote_weight(campaign=live_campaign, volunteer=volunteer) == consensus.NEWCOMER_WEIGHT
    assert consensus.vote_weight(campaign=live_campaign, volunteer=scientist) == 1.0
