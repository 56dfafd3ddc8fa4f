"""Alert packets straight to arrays, without the database: for benchmarks, evaluation and simulations.

Packets are read and validated by the ingest code itself (``labeling.ingest.prepare_file``), so a packet the
database would refuse is refused here too, and stamps go through the same ``preprocess()`` as everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.preprocessing import preprocess


@dataclass
class PacketSet:
    """Preprocessed stamps of a set of packets with the fields evaluation needs."""

    x: np.ndarray
    candids: list[int]
    object_ids: list[str]
    truth: list[str]
    drb: np.ndarray
    rb: np.ndarray
    rejected: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.candids)


def read_packets(paths: Iterable[Path | str]) -> PacketSet:
    """Every alert in these files, directories or globs (Avro and Fink Parquet), deduplicated by candid."""
    from labeling.ingest import expand_paths, prepare_file
    from labeling.models import stamp_array

    files, missing = expand_paths(list(paths))
    triplets, candids, object_ids, truth, drb, rb = [], [], [], [], [], []
    rejected = list(missing)
    seen: set[int] = set()
    for path in files:
        prepared, errors = prepare_file(path)
        rejected += errors
        for alert in prepared:
            if alert.candid in seen:
                continue
            seen.add(alert.candid)
            s = alert.stamps
            triplets.append(
                tuple(stamp_array(s[k], s["height"], s["width"]) for k in ("science", "template", "difference"))
            )
            candids.append(alert.candid)
            object_ids.append(alert.fields["object_id"])
            truth.append(alert.fields.get("demo_truth") or "")
            drb.append(np.nan if alert.fields.get("drb") is None else alert.fields["drb"])
            rb.append(np.nan if alert.fields.get("rb") is None else alert.fields["rb"])
    return PacketSet(
        x=preprocess(triplets) if triplets else np.zeros((0, 63, 63, 3), dtype=np.float32),
        candids=candids,
        object_ids=object_ids,
        truth=truth,
        drb=np.asarray(drb, dtype=np.float64),
        rb=np.asarray(rb, dtype=np.float64),
        rejected=rejected,
    )


def demo_packets(n: int, seed: int, out_dir: Path | str) -> PacketSet:
    """``n`` freshly generated demo alerts (known truth) as arrays; the packets are written under ``out_dir``."""
    from fixtures.demo_alerts import write_demo_alerts

    return read_packets(write_demo_alerts(Path(out_dir), n=n, seed=seed))
