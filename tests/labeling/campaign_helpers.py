"""Small builders for campaign tests: bare alerts (no stamps) in bulk, and votes cast through vote_record."""

from __future__ import annotations

import datetime as dt
import uuid

from labeling.models import Alert
from labeling.votes import vote_record


def bare_alerts(n: int, *, start: int = 9_000_000_000_000, **fields) -> list[Alert]:
    """``n`` alerts with only the required columns (enough to select, count and vote on; no stamps)."""
    rows = []
    for i in range(n):
        values = {
            "candid": start + i,
            "object_id": f"ZTFtest{i:07d}",
            "jd": 2460000.5 + i * 1e-3,
            "night": dt.date(2023, 2, 24),
            "fid": 1 + i % 2,
            "ra": (i * 7.3) % 360,
            "dec": ((i * 3.1) % 120) - 60,
            "gal_l": 0.0,
            "gal_b": ((i * 11.7) % 180) - 90,
            "isdiffpos": True,
            "rb": (i % 100) / 100,
            "candidate": {},
        }
        values.update(fields)
        rows.append(Alert(**values))
    return Alert.objects.bulk_create(rows)


def cast(campaign, subject, volunteer, answer: str):
    return vote_record(
        campaign=campaign, subject_id=subject.pk, volunteer=volunteer, answer=answer, idempotency_key=uuid.uuid4()
    )


def make_volunteers(django_user_model, n: int, prefix: str = "v") -> list:
    return [django_user_model.objects.create_user(username=f"{prefix}{i:03d}", password="x" * 12) for i in range(n)]
