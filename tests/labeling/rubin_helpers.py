"""The shared real Rubin alerts (../shared/data/lsst), read raw for the Rubin ingest tests."""

from __future__ import annotations

from pathlib import Path

import fastavro
import pytest
from django.conf import settings

RUBIN_ALERTS = 127


def rubin_dir() -> Path:
    path = Path(settings.SHARED_DATA_DIR) / "lsst"
    if not (path / "avro").is_dir() or not (path / "parquet").is_dir():
        pytest.skip(f"real Rubin alerts not found at {path} (../shared/data/lsst is absent)")
    return path


def avro_files() -> list[Path]:
    return sorted((rubin_dir() / "avro").rglob("*.avro"))


def parquet_file() -> Path:
    return next((rubin_dir() / "parquet").rglob("*.parquet"))


def read_container(path: Path) -> tuple[dict, dict]:
    """(first record, writer schema) of an Avro container."""
    with open(path, "rb") as fh:
        reader = fastavro.reader(fh)
        return next(reader), reader.writer_schema


def parquet_rows() -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(parquet_file()).to_pylist()
