"""What export and import agree on: the file format, which models are backed up and in what order, how a row
is encoded, and ``table_fingerprints`` to compare two databases."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, models
from django.db.migrations.recorder import MigrationRecorder

FORMAT = "blink-backup"
VERSION = 1
BACKED_UP_APPS = ("labeling", "classifiers", "activelearning")
BATCH = 1000
USER_EXCLUDED_FIELDS = {"password", "user_permissions"}


class BackupError(Exception):
    """A backup that cannot be written or restored; the message says which file/line/model and why."""


@dataclass
class BackupReport:
    path: Path
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class BackupEncoder(json.JSONEncoder):
    # DjangoJSONEncoder cuts datetimes to milliseconds; a backup keeps them to the microsecond.
    def default(self, o):
        if isinstance(o, dt.datetime | dt.date | dt.time):
            return o.isoformat()
        if isinstance(o, uuid.UUID | decimal.Decimal):
            return str(o)
        if isinstance(o, bytes | memoryview):
            return base64.b64encode(bytes(o)).decode("ascii")
        return super().default(o)


def backed_up_models() -> list[type[models.Model]]:
    """Groups, users, then every model of Blink's apps, parents before children."""
    ours = [m for name in BACKED_UP_APPS for m in apps.get_app_config(name).get_models()]
    return [Group, get_user_model(), *_parents_first(ours)]


def _parents_first(model_list: list[type[models.Model]]) -> list[type[models.Model]]:
    inside = set(model_list)
    ordered: list[type[models.Model]] = []
    seen: set = set()

    def visit(model, stack=()):
        if model in seen or model in stack:
            return
        for f in model._meta.concrete_fields:
            target = f.related_model if f.is_relation else None
            if target in inside and target is not model:
                visit(target, (*stack, model))
        seen.add(model)
        ordered.append(model)

    for m in model_list:
        visit(m)
    return ordered


def label_of(model) -> str:
    return model._meta.label_lower


def rows_of(model) -> models.QuerySet:
    qs = model._base_manager.order_by("pk")
    m2m = [f.name for f in model._meta.many_to_many if f.name not in excluded_fields(model)]
    return qs.prefetch_related(*m2m) if m2m else qs


def excluded_fields(model, *, with_password_hashes: bool = False) -> set[str]:
    if model is get_user_model():
        return USER_EXCLUDED_FIELDS - ({"password"} if with_password_hashes else set())
    if model is Group:
        return {"permissions"}
    return set()


def applied_migrations() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def table_fingerprints() -> dict[str, tuple[int, str]]:
    """(row count, sha256 of every value in pk order) per backed-up model — for comparing two databases.
    Auto-created m2m links are folded into their owner's rows; group ids are compared by name."""
    out: dict[str, tuple[int, str]] = {}
    for model in backed_up_models():
        digest = hashlib.sha256()
        n = 0
        m2m = [f for f in model._meta.many_to_many if f.name not in excluded_fields(model)]
        qs = rows_of(model).order_by("name") if model is Group else rows_of(model)
        for obj in qs.iterator(chunk_size=BATCH):
            row = [] if model is Group else [obj.pk]
            for f in model._meta.concrete_fields:
                if f.primary_key or (model is get_user_model() and f.name == "password"):
                    continue
                row.append(f.value_from_object(obj))
            for f in m2m:
                related = getattr(obj, f.name).all()
                row.append(sorted(r.name if isinstance(r, Group) else r.pk for r in related))
            digest.update(json.dumps(row, cls=BackupEncoder, sort_keys=True, allow_nan=True).encode())
            n += 1
        out[label_of(model)] = (n, digest.hexdigest())
    return out
