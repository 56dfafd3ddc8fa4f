"""Worker processes that share an ingest's files out, and the rules for starting them.

With many files, two processes share them out (``default_workers``). On PostgreSQL each decodes and stores its
files over its own connection (``ingest_in_workers``); elsewhere they decode and the caller writes
(``prepared_files``). They are forked where that is safe and spawned otherwise (``pool_context``). What runs
inside a worker is ``labeling.ingest_worker``, which imports nothing of Django until it has set Django up.
"""

from __future__ import annotations

import collections
import functools
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from django.db import connection, connections

from core.conf import blink_setting
from labeling import ingest_worker
from labeling.ingest.prepare import PreparedAlert, prepare_file
from labeling.ingest.writer import IngestReport, ingest_prepared

logger = logging.getLogger(__name__)

FILES_PER_TASK = 8
# A spawned worker's start-up (a fresh interpreter importing Django, numpy, pyarrow) costs more CPU than the
# second core saves below a few thousand files. A forked one starts with all of that imported, and pays from
# a few hundred files.
MIN_FILES_FOR_WORKER = 2000
MIN_FILES_FOR_FORKED_WORKER = 200


def default_workers(n_files: int) -> int:
    """Worker processes for an ingest of ``n_files`` files, when there are enough files to pay for them.

    Two at most (a third was no faster on 2 cores: ``bench/ingest.py`` measures it). None when the machine is
    busy already (a load average over cores + 1: a neighbour on a whole core left two workers no faster than
    none, and dearer in CPU). None either when the caller holds TensorFlow (the scoring server, a notebook):
    a spawn pool started from such a process was seen to stall. ``blink_setting("INGEST_WORKERS")``
    (``BLINK_INGEST_WORKERS``) overrides the choice.
    """
    override = blink_setting("INGEST_WORKERS")
    if override is not None:
        return override
    cpus = os.cpu_count() or 1
    if cpus < 2 or n_files < (MIN_FILES_FOR_FORKED_WORKER if fork_is_safe() else MIN_FILES_FOR_WORKER):
        return 0
    try:
        if os.getloadavg()[0] >= cpus + 1:
            return 0
    except OSError:  # no load average on this platform
        pass
    if "tensorflow" in sys.modules:
        return 0
    return min(2, cpus)


def fork_is_safe() -> bool:
    """One thread (daphne, TensorFlow or a test server may hold others, and a fork copies the locks they
    hold), no TensorFlow, and no open transaction (its connection cannot be closed)."""
    return (
        "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and "tensorflow" not in sys.modules
        and not connection.in_atomic_block
    )


def pool_context():
    """fork where it is safe, spawn otherwise. A spawned worker imports Django, numpy and pyarrow afresh (a
    large share of a small ingest's CPU); a forked one starts with them. The database connections are closed
    first, so that no child shares the parent's socket."""
    if fork_is_safe():
        connections.close_all()
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def prepared_files(files: list[Path], workers: int) -> Iterator[tuple[list[PreparedAlert], list[str]]]:
    """``prepare_file`` over the files, in order: in this process, or in ``workers`` processes while this one
    writes to the database (decoding is most of the CPU work; the pipeline keeps both cores busy)."""
    done = 0
    if workers > 0:
        # Bounded read-ahead, so a million files never sit decoded in memory at once; a sliding window (not
        # batches of files) so the workers never wait for this process to drain a batch.
        window = workers * 4
        with pool_context().Pool(workers, initializer=ingest_worker.init) as pool:
            pending: collections.deque = collections.deque()
            submitted = 0
            while done < len(files):
                while submitted < len(files) and len(pending) < window:
                    # A few files per task: one pipe round trip per file cost more than a small file's decoding.
                    names = [str(f) for f in files[submitted : submitted + FILES_PER_TASK]]
                    pending.append(pool.apply_async(ingest_worker.prepare_files, (names,)))
                    submitted += len(names)
                results = pending.popleft().get()
                if results is None:
                    logger.warning("ingest: worker processes could not start Django; decoding in this process")
                    break
                for result in results:
                    done += 1
                    yield result
    for path in files[done:]:
        yield prepare_file(path)


def writer_chunks(files: list[Path], workers: int) -> list[list[str]]:
    """The files split into worker tasks. Large while much is left: a task's transactions should hold a few
    hundred alerts (a commit per handful of packets would cost more than the packets). Then smaller and
    smaller ("guided" scheduling), so that no worker sits idle at the end while the other finishes a large
    task, as it did with equal tasks."""
    chunks = []
    i = 0
    while i < len(files):
        size = max(FILES_PER_TASK, min(256, (len(files) - i) // (workers * 4)))
        chunks.append([str(f) for f in files[i : i + size]])
        i += size
    return chunks


def ingest_in_workers(
    files: list[Path], workers: int, batch_size: int, report: IngestReport, on_files: Callable[[int], None]
) -> None:
    """PostgreSQL: each worker process decodes *and* stores its share of the files, over its own connection.
    Shipping decoded packets back to one writer makes that writer the bottleneck: pickling is cheap, but its
    unpickle + COPY + wait for the server is one serial path, slower than writing workers. PostgreSQL takes
    concurrent COPYs. Each batch is still one transaction; two workers storing the same candid or light-curve
    point meet the same unique indexes (and retries) as two ingest commands. ``on_files(n)``: called as each
    task's ``n`` files are done."""
    chunks = writer_chunks(files, workers)
    done = 0
    initargs = (connection.settings_dict["NAME"],)
    with pool_context().Pool(workers, initializer=ingest_worker.init, initargs=initargs) as pool:
        for result in pool.imap(functools.partial(ingest_worker.ingest_files, batch_size=batch_size), chunks):
            if result is None:
                logger.warning("ingest: worker processes could not start Django; ingesting in this process")
                break
            n_files, new, present, rejected, errors, new_ids = result
            report.files += n_files
            report.new += new
            report.present += present
            report.rejected += rejected
            report.errors.extend(errors)  # the worker logged them
            report.new_alert_ids.extend(new_ids)
            done += 1
            on_files(n_files)
    rest = [f for chunk in chunks[done:] for f in chunk]
    if rest:
        ingest_prepared((prepare_file(f) for f in rest), report, batch_size)
