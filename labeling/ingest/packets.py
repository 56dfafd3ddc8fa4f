"""What every step of ingest speaks of: a packet as read from its file, and the two ways of refusing input."""

from __future__ import annotations

from dataclasses import dataclass

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
