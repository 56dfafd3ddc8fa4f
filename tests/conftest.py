"""Shared actors and data for the whole suite.

The suite runs against PostgreSQL (``make test`` sets DATABASE_URL); the real alerts of ../shared/data are
used when present, and tests that need them skip with a clear message when not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from core.roles import ADMIN, MLLEAD, SCIENTIST, grant_role
from labeling.models import REAL_BOGUS_CLASSES, Campaign, Subject

PASSWORD = "blink-test-pw-123"


def real_data_dir() -> Path | None:
    path = Path(settings.SHARED_DATA_DIR) / "ztf"
    return path if (path / "manifest.csv").exists() else None


def _shared_folder(path: Path | None, missing: str) -> Path:
    if path is None:
        pytest.skip(missing)
    return path


@pytest.fixture(scope="session")
def real_data() -> Path:
    missing = f"real ZTF alerts not found at {settings.SHARED_DATA_DIR}/ztf (../shared/data is absent)"
    return _shared_folder(real_data_dir(), missing)


@pytest.fixture(scope="session")
def published_braai() -> Path:
    """../shared/models/braai: the published braai weights (d6_m7, d6_m9) with their LICENSE."""
    from classifiers.braai_import import published_braai_dir

    missing = f"published braai weights not found at {Path(settings.SHARED_DATA_DIR).parent}/models/braai"
    return _shared_folder(published_braai_dir(), missing)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counts live in Redis, outside the test's transaction: every test starts from zero, so the
    suite's many requests from 127.0.0.1 do not add up to a limit."""
    from core.ratelimit import forget_counts

    forget_counts()


@pytest.fixture(autouse=True)
def _fresh_progress():
    """Campaign progress is counted once a second per process and votes this process stored are added to it:
    each test starts and ends with no count left from another test's campaigns (ids come round again)."""
    from labeling.progress import forget_progress

    forget_progress()
    yield
    forget_progress()


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


def _actor(username: str, *roles: str):
    """A fixture giving a fresh user named ``username`` with ``roles`` (and ``PASSWORD``)."""

    @pytest.fixture
    def actor(django_user_model):
        return _make_user(django_user_model, username, *roles)

    return actor


volunteer = _actor("vera")
other_volunteer = _actor("otto")
scientist = _actor("sam", SCIENTIST)
other_scientist = _actor("sasha", SCIENTIST)
mllead = _actor("mia", MLLEAD)
admin_user = _actor("ada", ADMIN)


def _clients_signed_in_by(client_class, sign_in):
    """``make(user)``: a new ``client_class`` signed in as ``user`` by ``sign_in`` (anonymous for None)."""

    def make(user):
        c = client_class()
        if user is not None:
            sign_in(c, user)
        return c

    return make


@pytest.fixture
def client_for():
    """``client_for(user)`` gives a Django test client logged in as that user (or anonymous for None)."""
    from django.test import Client

    return _clients_signed_in_by(Client, Client.force_login)


@pytest.fixture
def api_for():
    """``api_for(user)`` gives a DRF APIClient authenticated as that user (or anonymous for None)."""
    from rest_framework.test import APIClient

    return _clients_signed_in_by(APIClient, APIClient.force_authenticate)


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


def settled_campaign(*, owner, alerts, name: str, slug: str) -> tuple[Campaign, list[Subject]]:
    """A live real/bogus campaign over ``alerts`` whose subjects are all retired by five votes, four fifths of
    them for the alert's demo truth (anything not real counts as bogus)."""
    campaign = Campaign.objects.create(
        name=name, slug=slug, owner=owner, classes=REAL_BOGUS_CLASSES, state=Campaign.State.LIVE
    )
    subjects = Subject.objects.bulk_create(
        [
            Subject(
                campaign=campaign,
                alert=a,
                retired=True,
                n_votes=5,
                n_classifications=5,
                majority_label="real" if a.demo_truth == "real" else "bogus",
                majority_fraction=0.8,
            )
            for a in alerts
        ]
    )
    return campaign, subjects


def labels_to_train_on(campaign: Campaign | None = None, *, n_each: int = 8) -> list:
    """``n_each`` alerts of each of four demo truths (real, yin-yang, asteroid, satellite: both classes of every
    real/bogus and streak question), each its own object, without stamps; with ``campaign``, also its retired
    real/bogus subjects labelled the same. Enough for a training request to be accepted (a request with too few
    labels is refused before queueing), not to train a model."""
    import datetime as dt

    from labeling.models import Alert

    start = Alert.objects.order_by("-candid").values_list("candid", flat=True).first() or 4_000_000_000_000_000
    alerts = Alert.objects.bulk_create(
        [
            Alert(
                candid=start + 1 + i,
                object_id=f"ZTF26lab{start % 100_000 + i:07d}",
                jd=2461000.5 + i * 1e-4,
                night=dt.date(2026, 1, 1),
                nid=1826,
                fid=1,
                ra=10.0,
                dec=20.0,
                gal_l=100.0,
                gal_b=30.0,
                magpsf=19.0,
                isdiffpos=True,
                candidate={},
                demo_truth=("real", "yin_yang", "asteroid", "satellite")[i % 4],
            )
            for i in range(4 * n_each)
        ]
    )
    if campaign is not None:
        Subject.objects.bulk_create(
            [
                Subject(
                    campaign=campaign,
                    alert=a,
                    retired=True,
                    n_votes=1,
                    n_classifications=1,
                    majority_label="real" if a.demo_truth == "real" else "bogus",
                    majority_fraction=1.0,
                )
                for a in alerts
            ]
        )
    return alerts


def register_untrained_braai(*, seed: int = 0, promote: bool = False, task: str = "real_bogus"):
    """A braai VGG6 version with seeded random weights, for tests that need a model but not a good one (or
    train it themselves)."""
    from classifiers import registry
    from classifiers.architectures import BRAAI_VGG6, BraaiHyperparameters, braai_vgg6
    from classifiers.runtime import keras

    keras().utils.set_random_seed(seed)
    model = braai_vgg6()
    version = registry.register(
        task=task,
        architecture=BRAAI_VGG6,
        model_bytes=registry.keras_bytes(model),
        hyperparameters=BraaiHyperparameters(seed=seed).to_dict(),
        training_set={"n_labels": 0, "source": "untrained (test)"},
        metrics={},
        thresholds={"operating": 0.5},
    )
    if promote:
        version = registry.promote(version, actor=None, reason="test")
    return version


def child_database_url(name: str | None = None) -> str:
    """The URL by which a child process reaches the test database (or, with ``name``, another one beside it)."""
    base = settings.DATABASES["default"]
    return f"postgres://{base['USER']}@{base['HOST']}:{base['PORT']}/{name or connection.settings_dict['NAME']}"


def run_manage(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """``manage.py`` in a process of its own; the test reads its exit status and captured output."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
