"""schemathesis against Blink's own OpenAPI schema, as each role: the world it runs in, one run per operation and
the stateful (links) run. Shared by ``tests/security/test_api_fuzz.py`` (a few examples, in ``make test``) and
``bench/fuzz_api.py`` (``make fuzz``: a hundred and more per operation and role).

Requests go through Django's request handler in-process (the same middleware and views daphne serves). A 5xx is
a server error; a response that does not match the schema (status, content type, body) is a schema violation.
Neither stops the run: each is recorded, so one run reports every operation's findings.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.security.rolematrix_world import ROLES

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Invalid input must be refused cleanly, in the one refusal shape the schema documents; whether each one is
# refused is the views' own tests' job.
NEGATIVE_CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]


def build_fuzz_world(alerts_dir) -> dict[str, str]:
    """Committed fixture objects every example can hit (real alerts, campaigns, subjects, versions, runs rather
    than only 404s); returns each role's API token (no token: anonymous)."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    from core.roles import ADMIN, MLLEAD, SCIENTIST, grant_role
    from fixtures.demo_alerts import write_demo_alerts
    from labeling.ingest import ingest_paths
    from labeling.models import REAL_BOGUS_CLASSES, Alert, Campaign, Subject
    from tests.security.rolematrix_world import build_role_world

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
    report = ingest_paths(write_demo_alerts(alerts_dir, n=20, seed=13), workers=0)
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
    return {role: Token.objects.create(user=users[role]).key for role in ROLES if role != "anon"}


def role_headers(tokens: dict[str, str], role: str) -> dict[str, str]:
    return {"Authorization": f"Token {tokens[role]}"} if role != "anon" else {}


def wsgi_schema():
    from django.core.handlers.wsgi import WSGIHandler

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler())


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


@dataclass
class Findings:
    """What a fuzzing run saw: requests by status class, and each distinct failure once (with how often)."""

    operations: int = 0
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    server_errors: int = 0
    failures: Counter = field(default_factory=Counter)
    skipped: int = 0  # operations left out when the time ran out

    def add(self, other: Findings) -> None:
        self.operations += other.operations
        self.requests += other.requests
        self.statuses += other.statuses
        self.server_errors += other.server_errors
        self.failures += other.failures
        self.skipped += other.skipped

    @property
    def schema_violations(self) -> int:
        return sum(n for key, n in self.failures.items() if not key.startswith("server error"))


GENERATED_VALUES = re.compile(r"[0-9a-f]{8,}|\d+")


def _signatures(label: str, exc: BaseException) -> list[str]:
    """One line per kind of failure: the operation, and each failed check's title without generated values."""
    inner = exc.exceptions if isinstance(exc, BaseExceptionGroup) else [exc]
    out = []
    for failure in inner:
        title = getattr(failure, "title", "") or (str(failure).strip().splitlines() or [type(failure).__name__])[0]
        message = getattr(failure, "message", "")
        text = f"{title}: {message}" if message else title
        out.append(f"{label}: {GENERATED_VALUES.sub('N', text)[:240]}")
    return out


def call_and_record(case, headers: dict, checks: list, findings: Findings, label: str, recorder=None) -> object:
    findings.requests += 1
    response = case.call(headers=headers)
    findings.statuses[f"{response.status_code // 100}xx"] += 1
    if response.status_code >= 500:
        findings.server_errors += 1
        findings.failures[f"server error {response.status_code}: {label}"] += 1
        return response
    try:
        case.validate_response(response, checks=checks, headers=headers, recorder=recorder)
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - recorded, the run goes on
        findings.failures.update(_signatures(label, exc))
    return response


def known_path_values() -> dict[str, list]:
    """Path parameter values the world holds, by name: a generated slug or candid is nearly always a 404, so
    half the examples are aimed at real objects and reach the views' own checks and services."""
    from labeling.models import Alert, Campaign

    return {
        "slug": list(Campaign.objects.values_list("slug", flat=True)),
        "candid": list(Alert.objects.values_list("candid", flat=True)[:5]),
        "id": [1, 2, 3],
        "pk": [1, 2, 3],
    }


def aim(case, known: dict[str, list], rng: random.Random) -> None:
    # Not a DELETE: the first one aimed at the live campaign would leave every later operation its 404s.
    if case.method.upper() != "DELETE" and rng.random() < 0.5:
        for name in case.path_parameters or {}:
            if known.get(name):
                case.path_parameters[name] = rng.choice(known[name])


def fuzz_operation(operation, tokens, *, mode, examples: int, seed: int | None = None, known=None) -> Findings:
    """``examples`` generated requests of one operation, each sent as every role (half of them, when ``known``
    values are given, with the path's parameters naming real objects)."""
    findings = Findings(operations=1 if mode == GenerationMode.POSITIVE else 0)
    rng = random.Random(seed or 0)
    checks = CHECKS if mode == GenerationMode.POSITIVE else NEGATIVE_CHECKS
    label = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=seed is None,
        database=None,
    )
    def run(case):
        aim(case, known or {}, rng)
        for role in ROLES:
            call_and_record(case, role_headers(tokens, role), checks, findings, f"{label} as {role}")

    if seed is not None:
        from hypothesis import seed as with_seed

        run = with_seed(seed)(run)
    try:
        run()
    except Unsatisfiable:
        pass  # nothing to make invalid (a bare slug): the positive run covered it
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - generation itself failed: a finding
        findings.failures.update(_signatures(f"{label} (generation)", exc))
    return findings


def fuzz_all(
    schema,
    tokens,
    *,
    examples: int,
    negative_examples: int,
    shard=(0, 1),
    seed=None,
    only: str = "",
    deadline: float | None = None,
) -> Findings:
    """Every operation (of this shard: index % shards == k; whose "METHOD path" matches ``only``, if given),
    valid then invalid requests; none started after ``deadline`` (``time.monotonic()``), counted as skipped."""
    k, shards = shard
    findings = Findings()
    known = known_path_values()
    for i, operation in enumerate(operations(schema)):
        if i % shards != k or (only and not re.search(only, f"{operation.method.upper()} {operation.path}")):
            continue
        if deadline is not None and time.monotonic() > deadline:
            findings.skipped += 1
            continue
        for mode, n in ((GenerationMode.POSITIVE, examples), (GenerationMode.NEGATIVE, negative_examples)):
            if n:
                findings.add(fuzz_operation(operation, tokens, mode=mode, examples=n, seed=seed, known=known))
    return findings


def fuzz_stateful(schema, tokens, *, role: str, scenarios: int, max_steps: int, seed=None) -> tuple[Findings, int]:
    """schemathesis' stateful mode as ``role``: sequences of calls that follow the schema's links (inferred
    from its parameters and responses when the schema states none), each response checked. Returns the
    findings and how many links there were to follow."""
    findings = Findings()
    machine = schema.as_state_machine()
    schema.__dict__.pop("statistic", None)  # measured before the links were inferred
    links = schema.statistic.transitions.total
    headers = role_headers(tokens, role)

    class AsRole(machine):
        def step(self, input):
            case = input.case
            label = f"stateful {case.operation.method.upper()} {case.operation.path} as {role}"
            response = call_and_record(case, headers, CHECKS, findings, label)
            from schemathesis.generation.stateful.state_machine import StepOutput

            return StepOutput(response, case)

    try:
        AsRole.run(
            settings=settings(
                max_examples=scenarios,
                stateful_step_count=max_steps,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=seed is None,
                database=None,
            )
        )
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - recorded
        findings.failures.update(_signatures(f"stateful as {role}", exc))
    return findings, links
