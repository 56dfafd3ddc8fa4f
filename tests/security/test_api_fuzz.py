"""schemathesis against Blink's own OpenAPI schema, authenticated as each role: no 500, and every response
(status code, content type, body) as the schema says; every refusal of an invalid request in the one
``{"detail", "code", "field"}`` shape.

Bounded: a few generated examples per operation, each sent as anonymous, volunteer, scientist, ML lead
and admin (API tokens), through the Django request handler in-process (the same middleware and views
daphne serves; WSGI here so each request sees the test's database). One module-wide world of fixture
objects is committed up front and flushed at the end, so the examples hit real alerts, campaigns, subjects,
versions and runs rather than only 404s.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.rolematrix_world import ROLES

# Per operation: valid requests (the schema's own shapes) and invalid ones (schemathesis' negative mode).
MAX_EXAMPLES = int(os.environ.get("BLINK_FUZZ_EXAMPLES", "3"))
MAX_NEGATIVE_EXAMPLES = int(os.environ.get("BLINK_FUZZ_NEGATIVE_EXAMPLES", "2"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Committed fixture objects shared by every example (created once: ingest is not free)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from core.roles import ADMIN, MLLEAD, SCIENTIST, grant_role
    from fixtures.demo_alerts import write_demo_alerts
    from labeling.ingest import ingest_paths
    from labeling.models import REAL_BOGUS_CLASSES, Alert, Campaign, Subject
    from tests.security.rolematrix_world import build_role_world

    with django_db_blocker.unblock():
        User = get_user_model()
        users = {}
        for role, grants in (("volunteer", ()), ("scientist", (SCIENTIST,)), ("mllead", (MLLEAD,)),
                             ("admin", (ADMIN,)), ("other_scientist", (SCIENTIST,))):  # fmt: skip
            user = User.objects.create_user(username=f"fuzz-{role}", password="fuzz-password-123")
            for g in grants:
                grant_role(user, g)
            if role == "admin":
                user.is_staff = user.is_superuser = True
                user.save()
            users[role] = user
        report = ingest_paths(write_demo_alerts(tmp_path_factory.mktemp("fuzz"), n=20, seed=13))
        assert report.rejected == 0, report.errors
        alerts = list(Alert.objects.order_by("candid"))
        campaign = Campaign.objects.create(
            name="Fuzz", slug="demo-real-bogus", owner=users["scientist"], classes=REAL_BOGUS_CLASSES,
            state=Campaign.State.LIVE, retire_after=3,
        )  # fmt: skip
        Subject.objects.bulk_create([Subject(campaign=campaign, alert=a) for a in alerts])
        build_role_world(
            live_campaign=campaign, demo_alerts=alerts, scientist=users["scientist"],
            other_scientist=users["other_scientist"], volunteer=users["volunteer"], mllead=users["mllead"],
            admin_user=users["admin"],
        )  # fmt: skip
        tokens = {role: Token.objects.create(user=users[role]).key for role in ROLES if role != "anon"}
    yield tokens
    with django_db_blocker.unblock():
        # Leave the database as every other test expects it: empty.
        call_command("flush", "--noinput", verbosity=0)


@pytest.fixture
def keep_test_connection():
    """As Django's test client does: the handler must not close the test's connection after each request."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _summary(exc: BaseException) -> str:
    text = str(exc)
    return text[:3000]


def _operations(schema):
    for result in schema.get_all_operations():
        yield result.ok()


@pytest.mark.django_db
def test_the_api_answers_every_role_as_its_schema_says(fuzz_world, keep_test_connection):
    """Every operation, MAX_EXAMPLES generated requests, each as the five roles. Failures are collected
    across operations and reported together (one line per operation and check)."""
    from django.core.handlers.wsgi import WSGIHandler
    from hypothesis import given

    schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())
    failures: list[str] = []
    stats = {"operations": 0, "requests": 0}

    for operation, mode, examples in (
        (op, mode, n)
        for op in _operations(schema)
        for mode, n in ((GenerationMode.POSITIVE, MAX_EXAMPLES), (GenerationMode.NEGATIVE, MAX_NEGATIVE_EXAMPLES))
    ):
        stats["operations"] += mode == GenerationMode.POSITIVE
        # Invalid input must be refused cleanly, in the one refusal shape the schema documents; whether each one
        # is refused is the views' own tests' job.
        checks = CHECKS if mode == GenerationMode.POSITIVE else [*NEGATIVE_CHECKS]

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            for role in ROLES:
                headers = {"Authorization": f"Token {fuzz_world[role]}"} if role != "anon" else {}
                stats["requests"] += 1
                case.call_and_validate(headers=headers, checks=checks)  # noqa: B023 - run() is called at once

        try:
            run()
        except Unsatisfiable:
            continue  # nothing to make invalid (a bare slug): the positive run covered it
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - collected, reported below
            failures.append(f"{operation.method.upper()} {operation.path}: {_summary(exc)}")

    print(f"schemathesis: {stats['operations']} operations, {stats['requests']} requests")
    assert stats["operations"] > 40
    assert failures == [], "\n\n".join(failures)
