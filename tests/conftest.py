"""Shared actors and data for the whole suite.

The suite runs against PostgreSQL (``make test`` sets DATABASE_URL); the real alerts of ../shared/data are
used when present, and tests that need them skip with a clear message when not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from core.roles import ADMIN, MLLEAD, SCIENTIST, grant_role
from labeling.models import REAL_BOGUS_CLASSES, Campaign

PASSWORD = "blink-test-pw-123"


def real_data_dir() -> Path | None:
    path = Path(settings.SHARED_DATA_DIR) / "ztf"
    return path if (path / "manifest.csv").exists() else None


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip(f"real ZTF alerts not found at {settings.SHARED_DATA_DIR}/ztf (../shared/data is absent)")
    return path


def _make_user(django_user_model, username: str, *roles: str):
    user = django_user_model.objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@blink.invalid"
    )
    for role in roles:
        grant_role(user, role)
    if ADMIN in roles:
        user.is_staff = True
        user.is_superuser = True
        user.save()
    return user


@pytest.fixture
def volunteer(django_user_model):
    return _make_user(django_user_model, "vera")


@pytest.fixture
def other_volunteer(django_user_model):
    return _make_user(django_user_model, "otto")


@pytest.fixture
def scientist(django_user_model):
    return _make_user(django_user_model, "sam", SCIENTIST)


@pytest.fixture
def other_scientist(django_user_model):
    return _make_user(django_user_model, "sasha", SCIENTIST)


@pytest.fixture
def mllead(django_user_model):
    return _make_user(django_user_model, "mia", MLLEAD)


@pytest.fixture
def admin_user(django_user_model):
    return _make_user(django_user_model, "ada", ADMIN)


@pytest.fixture
def client_for(client):
    """``client_for(user)`` gives a Django test client logged in as that user (or anonymous for None)."""
    from django.test import Client

    def make(user):
        c = Client()
        if user is not None:
            c.force_login(user)
        return c

    return make


@pytest.fixture
def api_for():
    """``api_for(user)`` gives a DRF APIClient authenticated as that user (or anonymous for None)."""
    from rest_framework.test import APIClient

    def make(user):
        c = APIClient()
        if user is not None:
            c.force_authenticate(user)
        return c

    return make


@pytest.fixture
def demo_alerts(db, tmp_path_factory):
    """A small, deterministic set of ingested demo alerts (known truth), shared shape for every app's tests."""
    from fixtures.demo_alerts import write_demo_alerts
    from labeling.ingest import ingest_paths

    out = tmp_path_factory.mktemp("demo")
    paths = write_demo_alerts(out, n=60, seed=7)
    report = ingest_paths(paths)
    assert report.rejected == 0, report.errors
    from labeling.models import Alert

    return list(Alert.objects.order_by("candid"))


@pytest.fixture
def live_campaign(db, scientist, demo_alerts):
    """A live real/bogus campaign over the demo alerts, owned by ``scientist``."""
    from labeling.models import Subject

    campaign = Campaign.objects.create(
        name="Demo real/bogus",
        slug="demo-real-bogus",
        owner=scientist,
        classes=REAL_BOGUS_CLASSES,
        state=Campaign.State.LIVE,
        retire_after=3,
    )
    Subject.objects.bulk_create(
        [Subject(campaign=campaign, alert=a, random_key=(i * 0.6180339887) % 1.0) for i, a in enumerate(demo_alerts)]
    )
    return campaign
