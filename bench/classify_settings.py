"""Settings for the daphne processes of bench/classify_load.py: Blink's own, plus a psycopg connection pool.

Under ASGI Django runs each request's sync code in a thread of its own; with persistent connections every such
thread keeps a PostgreSQL connection of its own (a shared server soon says "too many clients"), and without
them every request pays a new connection. A small pool per process (Django 5.1+ ``OPTIONS["pool"]``, backed by
psycopg-pool) bounds the connections and keeps them warm: what a production deployment would do (or pgbouncer).
"""

import os

from config.settings import *  # noqa: F403
from config.settings import DATABASES

DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django must not also hold them
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False  # as config.settings does with a pool: no round trip per checkout
POOL_SIZE = int(os.environ.get("BLINK_BENCH_POOL_SIZE", "8"))
# Opened in full at start: a pool that grows under the first burst of volunteers makes them wait for
# PostgreSQL connections to be set up one after another (~20 ms each on 2 busy cores).
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {"min_size": POOL_SIZE, "max_size": POOL_SIZE, "timeout": 10}
