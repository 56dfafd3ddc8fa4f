"""Alert packets straight to arrays, without the database: for benchmarks and evaluation (the demo packet sets
are made by ``fixtures.datasets``).

Packets are read and validated by the ingest code itself (``labeling.ingest.prepare_file``), so a packet the
database would refuse is refused here too, and stamps go through the same ``preprocess()`` as everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from classifiers.preprocessing import DEFAULT_RECIPE, InputRecipe, Triplet, preprocess


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


def prepared_triplet(alert) -> Triplet:
    """The raw (science, template, difference) arrays of an alert prepared by ingest, as stored after ingest."""
    from labeling.models import STAMP_KINDS, stamp_array

    s = alert.stamps
    return tuple(stamp_array(s[k], s["height"], s["width"]) for k in STAMP_KINDS)


def read_packets(paths: Iterable[Path | str], recipe: InputRecipe = DEFAULT_RECIPE) -> PacketSet:
    """Every alert in these files, directories or globs (Avro and Fink Parquet), deduplicated by candid, with
    stamps made into input by ``recipe`` (the recipe of the version that will score them)."""
    from labeling.ingest import expand_paths, prepare_file

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
            triplets.append(prepared_triplet(alert))
            candids.append(alert.candid)
            object_ids.append(alert.fields["object_id"])
            truth.append(alert.fields.get("demo_truth") or "")
            drb.append(np.nan if alert.fields.get("drb") is None else alert.fields["drb"])
            rb.append(np.nan if alert.fields.get("rb") is None else alert.fields["rb"])
    return PacketSet(
        x=preprocess(triplets, recipe),
        candids=candids,
        object_ids=object_ids,
        truth=truth,
        drb=np.asarray(drb, dtype=np.float64),
        rb=np.asarray(rb, dtype=np.float64),
        rejected=rejected,
    )
