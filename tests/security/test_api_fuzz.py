"""schemathesis against Blink's own OpenAPI schema, authenticated as each role: no 500, and every response
(status code, content type, body) as the schema says; every refusal of an invalid request in the one
``{"detail", "code", "field"}`` shape.

Bounded: a few generated examples per operation, each sent as anonymous, volunteer, scientist, ML lead
and admin (API tokens), through the Django request handler in-process (the same middleware and views
daphne serves; WSGI here so each request sees the test's database). One module-wide world of fixture
objects is committed up front and flushed at the end, so the examples hit real alerts, campaigns, subjects,
versions and runs rather than only 404s. The machinery is ``tests/security/api_fuzzing.py``'s, shared with
``bench/fuzz_api.py`` (``make fuzz``), which sends a hundred and more examples per operation and role.
"""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from tests.security import api_fuzzing as fz

# Per operation: valid requests (the schema's own shapes) and invalid ones (schemathesis' negative mode).
MAX_EXAMPLES = int(os.environ.get("BLINK_FUZZ_EXAMPLES", "3"))
MAX_NEGATIVE_EXAMPLES = int(os.environ.get("BLINK_FUZZ_NEGATIVE_EXAMPLES", "2"))


@pytest.fixture(scope="module")
def fuzz_world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Committed fixture objects shared by every example (created once: ingest is not free)."""
    with django_db_blocker.unblock():
        tokens = fz.build_fuzz_world(tmp_path_factory.mktemp("fuzz"))
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


def _report(findings: fz.Findings) -> str:
    return "\n".join(f"{n} x {failure}" for failure, n in sorted(findings.failures.items()))


@pytest.mark.django_db
def test_the_api_answers_every_role_as_its_schema_says(fuzz_world, keep_test_connection):
    """Every operation, MAX_EXAMPLES generated requests, each as the five roles. Failures are collected
    across operations and reported together (one line per operation, role and check)."""
    findings = fz.fuzz_all(fz.wsgi_schema(), fuzz_world, examples=MAX_EXAMPLES, negative_examples=MAX_NEGATIVE_EXAMPLES)
    print(f"schemathesis: {findings.operations} operations, {findings.requests} requests")
    assert findings.operations > 40
    assert findings.server_errors == 0, _report(findings)
    assert not findings.failures, _report(findings)


@pytest.mark.django_db
def test_call_sequences_along_the_schemas_links_answer_as_the_schema_says(fuzz_world, keep_test_connection):
    """schemathesis' stateful mode, short: a few sequences of calls that pass one answer's ids and slugs on
    to the next operation, as the scientist (the role whose calls create and change the most)."""
    findings, links = fz.fuzz_stateful(fz.wsgi_schema(), fuzz_world, role="scientist", scenarios=5, max_steps=5)
    assert links > 10
    assert findings.requests > 5
    assert findings.server_errors == 0, _report(findings)
    assert not findings.failures, _report(findings)
