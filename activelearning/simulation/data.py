"""The simulation's data: preprocessed stamps with an oracle's labels, and the fixed test set of objects."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from classifiers.labelled import drb_targets, object_bucket, positive_labels
from classifiers.preprocessing import DEFAULT_RECIPE, InputRecipe, preprocess

TEST_FRACTION = 0.25
TEST_SALT = "blink-simulation-test"
CUTOUTS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
ORACLE_NOTES = {
    "demo": "oracle: the demo generator's known truth (real vs any bogus type)",
    "real": (
        "oracle: labels derived from braai's drb score in the packets (drb > 0.9 real, drb < 0.1 bogus, others "
        "left out). These are braai's outputs, not human labels."
    ),
    "real_transfer": (
        "oracle: braai d6_m7's verdict (drb > 0.5) on real ZTF alerts, standing in for a new labelling standard; "
        "quality: Spearman with drb on the test objects. drb is a model's output, not human labels."
    ),
}
# The transfer scenario's oracle: d6_m7 calls an alert real above 0.5.
TRANSFER_THRESHOLD = 0.5


@dataclass
class Dataset:
    x: np.ndarray
    y: np.ndarray
    object_ids: list[str]
    candids: list[int]
    data: str  # "demo", "real" or "real_transfer"
    description: str
    skipped: int = 0
    # A continuous score to rank against on the test set (the transfer scenario's drb), when there is one.
    reference: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)


def record_stamps(record: dict) -> list[np.ndarray]:
    """The science, template and difference stamps of an alert packet's record."""
    from labeling.ingest import decode_stamp

    return [decode_stamp(record[k]["stampData"]) for k in CUTOUTS]


def truth_target(truth: str) -> int:
    """The oracle's answer for a demo alert: real (1) against any bogus type (0)."""
    return int(truth in positive_labels("real_bogus"))


def dataset(
    triplets: Sequence,
    y: Sequence[int],
    object_ids: Sequence,
    candids: Sequence,
    *,
    data: str,
    description: str,
    recipe: InputRecipe = DEFAULT_RECIPE,
) -> Dataset:
    """A :class:`Dataset` from stamp triplets, through the same ``preprocess()`` as training and scoring, with
    the recipe of the model the simulation starts from."""
    return Dataset(
        x=preprocess(triplets, recipe),
        y=np.asarray(y, dtype=np.int64),
        object_ids=[str(o) for o in object_ids],
        candids=[int(c) for c in candids],
        data=data,
        description=description,
    )


def _drb_target(record: dict) -> int | None:
    drb = (record.get("candidate") or {}).get("drb")
    target = drb_targets(np.nan if drb is None else drb)
    return None if np.isnan(target) else int(target)


def load_packets(paths: Iterable, *, progress: bool = False, recipe: InputRecipe = DEFAULT_RECIPE) -> Dataset:
    """Alerts from Avro/Parquet packets. Labels: demo truth when a packet carries it, else drb-derived."""
    from labeling.ingest import AlertRejected, FileUnreadable, expand_paths, read_file

    files, missing = expand_paths(paths)
    if not files:
        raise ValueError("; ".join(missing) or "no packet files found")
    triplets, labels, objects, candids = [], [], [], []
    seen: set[int] = set()
    skipped = 0
    kinds = set()
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="packets", unit="file")
    for path in iterator:
        try:
            for raw in read_file(path):
                record = raw.record
                candid = record.get("candid")
                if candid in seen:
                    continue
                label = truth_target(raw.truth) if raw.truth else _drb_target(record)
                try:
                    stamps = record_stamps(record) if label is not None else None
                except (AlertRejected, KeyError, TypeError):
                    stamps = None
                if stamps is None:
                    skipped += 1
                    continue
                kinds.add("demo" if raw.truth else "real")
                seen.add(candid)
                triplets.append(stamps)
                labels.append(label)
                objects.append(record.get("objectId"))
                candids.append(candid)
        except FileUnreadable:
            skipped += 1
    if not triplets:
        raise ValueError("no labelled alert found in the packets (no demo truth, no drb outside 0.1..0.9)")
    n_real = sum(labels)
    out = dataset(
        triplets,
        labels,
        objects,
        candids,
        data="real" if "real" in kinds else "demo",
        description=f"{len(labels)} labelled alerts from {len(files)} files ({n_real} real, "
        f"{len(labels) - n_real} bogus)",
        recipe=recipe,
    )
    out.skipped = skipped
    return out


def split_test(data: Dataset, fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) indices: objects hashed into the lowest ``fraction`` of buckets form the fixed test set (the
    held-out split of ``classifiers.labelled`` under the simulation's own salt)."""
    is_test = np.array([object_bucket(o, salt=TEST_SALT) < fraction for o in data.object_ids], dtype=bool)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def load_transfer_packets(paths: Iterable, recipe: InputRecipe) -> Dataset:
    """Every real alert in these packets that carries a ``drb``, made into input by ``recipe`` (the starting
    version's), labelled by d6_m7's verdict and keeping drb itself as the reference to rank against."""
    from classifiers.datasets import read_packets

    packets = read_packets(paths, recipe)
    keep = np.flatnonzero(np.isfinite(packets.drb))
    if not len(keep):
        raise ValueError("no alert in the packets carries a drb: the transfer scenario has no oracle")
    drb = packets.drb[keep]
    y = (drb > TRANSFER_THRESHOLD).astype(np.int64)
    return Dataset(
        x=packets.x[keep],
        y=y,
        object_ids=[packets.object_ids[i] for i in keep],
        candids=[packets.candids[i] for i in keep],
        data="real_transfer",
        description=f"{len(keep)} real alerts with a drb ({int(y.sum())} above {TRANSFER_THRESHOLD}), input recipe "
        f"{recipe.describe()}",
        reference=drb,
    )
