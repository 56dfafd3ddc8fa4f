"""Running work again when it met a lock that another writer held for too long.

On SQLite (``make run``) daphne and the db_worker write one file: a writer that waits past the busy timeout for
the other gives up with "database is locked". PostgreSQL's counterparts (a deadlock broken by the server, a lock
or serialisation timeout) are as transient. The work did not happen (its transaction rolled back), so doing it
again after a pause is safe for the idempotent background tasks decorated here, where a failure would otherwise
stay on record until the next trigger.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import OperationalError, connection

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# SQLite's messages for SQLITE_BUSY and SQLITE_LOCKED.
SQLITE_LOCKED_MESSAGES = ("database is locked", "database table is locked")
# PostgreSQL: deadlock_detected, serialization_failure, lock_not_available.
POSTGRES_TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}


def is_transient_lock(exc: BaseException) -> bool:
    """Whether ``exc`` is a lock conflict that a later attempt can get past (not a lost or broken database)."""
    if not isinstance(exc, OperationalError):
        return False
    if getattr(exc.__cause__, "sqlstate", None) in POSTGRES_TRANSIENT_SQLSTATES:
        return True
    message = str(exc).lower()
    return any(text in message for text in SQLITE_LOCKED_MESSAGES)


def retry_when_locked(
    *, attempts: int = 5, first_delay_s: float = 0.5, max_delay_s: float = 8.0
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Call the function again (up to ``attempts`` calls, pausing ``first_delay_s`` then twice as long each time)
    when it raises a transient lock conflict; any other error, or the last attempt's, is raised as it is."""

    def decorate(func: Callable[P, T]) -> Callable[P, T]:
        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> T:
            delay = first_delay_s
            for attempt in range(1, attempts):
                try:
                    return func(*args, **kwargs)
                except OperationalError as exc:
                    # Inside a caller's transaction the whole transaction is lost: only that caller can start
                    # again, so the error goes up to it.
                    if not is_transient_lock(exc) or connection.in_atomic_block:
                        raise
                    log.warning(
                        "%s met a locked database (%s); attempt %d of %d in %.1f s",
                        func.__qualname__,
                        exc,
                        attempt + 1,
                        attempts,
                        delay,
                    )
                time.sleep(delay)
                delay = min(max_delay_s, delay * 2)
            return func(*args, **kwargs)  # the last attempt: its error is the caller's

        return run

    return decorate
