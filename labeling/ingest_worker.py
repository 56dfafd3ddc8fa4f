"""Worker-process side of ``labeling.ingest``: decode packets in a spawned process.

Kept apart from ``labeling.ingest`` on purpose: a spawned worker unpickles its task functions by importing
their module *before* Django is set up, so this module imports nothing of Django (or of the models) at
import time; ``init`` sets Django up, then the work is done by ``labeling.ingest.prepare_file``.
"""

from __future__ import annotations

import os

_setup_error: str | None = None


def init() -> None:
    global _setup_error
    try:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
    except Exception as exc:  # reported with the first task: a pool would otherwise respawn it forever
        _setup_error = f"{type(exc).__name__}: {exc}"


def prepare_files(paths: list[str]):
    """(prepared alerts, error messages) of each file, or None when this worker could not start Django."""
    if _setup_error is not None:
        return None
    from labeling.ingest import prepare_file

    return [prepare_file(path) for path in paths]
