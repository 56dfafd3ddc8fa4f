"""What every step of ingest speaks of: a packet as read from its file, the two ways of refusing input, and the
rows of a Parquet table as packets."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The three cutouts of a ZTF packet: the stamp kind Blink stores, and the packet's field holding it.
CUTOUT_FIELDS = (("science", "cutoutScience"), ("template", "cutoutTemplate"), ("difference", "cutoutDifference"))


@dataclass
class RawAlert:
    record: dict
    source: str
    truth: str = ""


class AlertRejected(Exception):
    """A packet that cannot be stored; the message says why."""


class FileUnreadable(Exception):
    """A file none of whose packets can be read; the message says why."""


def parquet_rows(pf, path: Path, columns: list[str]) -> Iterator[RawAlert]:
    """The ``columns`` of each row of an open Parquet file, as raw alerts named by their row."""
    row = 0
    try:
        # One thread: Arrow's pool (a thread per core) cost more CPU on tables of a few dozen rows, and
        # ingest already keeps every core busy with its own worker processes.
        for batch in pf.iter_batches(batch_size=256, columns=columns, use_threads=False):
            for record in batch.to_pylist():
                yield RawAlert(record, f"{path}#row={row}")
                row += 1
    except Exception as exc:
        raise FileUnreadable(f"unreadable Parquet after {row} row(s) ({exc})") from exc
