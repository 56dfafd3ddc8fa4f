"""The console's shared cache of computed reads (version comparisons, slices, figures).

Django's default cache (Redis when REDIS_URL is set, else a database table): every web server and worker of this
Blink, on any machine, reads the same entries. A key changes whenever its inputs do (new scores, newly retired
subjects, a promotion), so an entry is a memo of a pure function of the database, never state of its own: a page
load never waits on a bootstrap it has already done, and a stale entry is simply never asked for again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.db.models import Count, Max

from classifiers.models import RegistryEvent, Score
from labeling.models import Subject

CACHE_SECONDS = 600


def console_cache() -> BaseCache:
    return caches["default"]


def cache_key(*parts) -> str:
    # The database name keeps two Blinks (or two test databases) on one cache apart.
    raw = repr((connection.settings_dict.get("NAME"), parts))
    return "blink-console-" + hashlib.sha256(raw.encode()).hexdigest()


def inputs_key(*parts) -> str:
    """A cache key that moves whenever scores, consensus or the registry move."""
    scores = Score.objects.aggregate(n=Count("id"), last=Max("scored_at"))
    subjects = Subject.objects.filter(retired=True).aggregate(n=Count("id"), last=Max("retired_at"))
    last_event = RegistryEvent.objects.aggregate(last=Max("id"))["last"]
    return cache_key(parts, scores, subjects, last_event)


def memoized(key: str, build: Callable[[], Any], timeout: int = CACHE_SECONDS) -> Any:
    """The cached value under ``key``, built (and kept for ``timeout`` seconds) when absent."""
    value = console_cache().get(key)
    if value is None:
        value = build()
        console_cache().set(key, value, timeout)
    return value
