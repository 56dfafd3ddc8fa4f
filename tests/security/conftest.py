"""Fixtures of the security tests: a few good demo packets (two of them already stored) for the hostile inputs,
and the world of the role matrix."""

from __future__ import annotations

import pytest

from fixtures.demo_alerts import write_demo_alerts
from labeling.ingest import ingest_paths
from tests.security.rolematrix_world import build_role_world


@pytest.fixture(scope="module")
def packets(tmp_path_factory):
    return write_demo_alerts(tmp_path_factory.mktemp("hostile_good"), n=4, seed=5)


@pytest.fixture
def stored(packets):
    """Two good alerts already stored, so "untouched" means something."""
    report = ingest_paths(packets[:2])
    assert report.new == 2, report.errors
    return report


@pytest.fixture
def world(live_campaign, demo_alerts, scientist, other_scientist, volunteer, mllead, admin_user):
    """One of each role, and an object of every kind the URLs name (tests.security.rolematrix_world)."""
    return build_role_world(
        live_campaign=live_campaign, demo_alerts=demo_alerts, scientist=scientist,
        other_scientist=other_scientist, volunteer=volunteer, mllead=mllead, admin_user=admin_user,
    )  # fmt: skip
