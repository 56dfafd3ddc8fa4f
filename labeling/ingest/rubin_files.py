"""Rubin alerts in a broker's Parquet table (Fink's: one alert a row, 64-bit integer IDs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from labeling.ingest.packets import FileUnreadable, RawAlert, parquet_rows
from labeling.ingest.rubin_schemas import CONTEXT_FIELDS, ID_FIELDS, RECORD_FIELDS


def is_rubin_table(names) -> bool:
    return "diaSource" in names


def _float_id_columns(schema, prefix: str = "") -> Iterator[str]:
    """Paths of the Arrow schema's identifier columns (``ID_FIELDS``) stored as floating point."""
    import pyarrow as pa

    for f in schema:
        t = f.type
        while pa.types.is_list(t) or pa.types.is_large_list(t):
            t = t.value_type
        if f.name in ID_FIELDS and pa.types.is_floating(t):
            yield f"{prefix}{f.name}"
        if pa.types.is_struct(t):
            yield from _float_id_columns([t.field(i) for i in range(t.num_fields)], f"{prefix}{f.name}.")


def read_rubin_parquet(pf, path: Path) -> Iterator[RawAlert]:
    """Every Rubin alert row of a Fink Parquet table. A table whose identifiers are floating-point columns is
    refused whole, naming the column: none of its alerts could be told apart exactly."""
    schema = pf.schema_arrow
    wanted = [c for c in RECORD_FIELDS + CONTEXT_FIELDS if c in schema.names]
    bad = list(_float_id_columns([schema.field(c) for c in wanted if c in RECORD_FIELDS]))
    if bad:
        raise FileUnreadable(
            f"identifier column {', '.join(bad)} is floating point: 64-bit IDs stored so cannot be exact"
        )
    yield from parquet_rows(pf, path, wanted)
