"""The .npz training set of a campaign: its consensus labels beside the network's input for each alert.

The labels and their subjects are chosen in ``labeling.exports`` (one path with the consensus exports); the
stamps go through ``classifiers.preprocessing``, the same input training and scoring use. ``KINDS`` are all the
exports a campaign offers, the text ones of ``labeling.exports`` and this one.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from classifiers.preprocessing import INPUT_SHAPE, load_inputs
from labeling.exports import CHUNK, TEXT_KINDS, labelled_subjects
from labeling.models import Campaign

KINDS = (*TEXT_KINDS, "npz")


def _npy_header(array_shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": array_shape}
    )
    return buffer.getvalue()


def training_set_classes(campaign: Campaign) -> list[str]:
    """Class names in label-index order. Real/bogus puts bogus first so that label 1 means real, as braai."""
    keys = campaign.answer_keys
    if campaign.question_type == Campaign.QuestionType.REAL_BOGUS and set(keys) == {"real", "bogus"}:
        return ["bogus", "real"]
    return keys


def write_training_set(
    campaign: Campaign, out: IO[bytes] | str | Path, *, method: str = "dawid_skene", retired_only: bool = False
) -> int:
    """Write an .npz: ``stamps`` (N, 63, 63, 3) float32 from classifiers.preprocessing, ``labels`` (N,) int
    indices into ``classes``, ``label_keys``, ``confidence``, ``candids``, ``objectIds``. Stamps go to the file
    chunk by chunk, so N is bounded by disk, not memory. Returns N."""
    subjects, label_field, confidence_field = labelled_subjects(campaign, method=method, retired_only=retired_only)
    classes = training_set_classes(campaign)
    index = {k: i for i, k in enumerate(classes)}
    rows = list(
        subjects.filter(alert__stamps__isnull=False).values_list(
            "alert_id", "alert__candid", "alert__object_id", label_field, confidence_field
        )
    )
    n = len(rows)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("stamps.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((n, *INPUT_SHAPE), np.float32))
            for start in range(0, n, CHUNK):
                chunk = rows[start : start + CHUNK]
                stamps = load_inputs([r[0] for r in chunk]).astype("<f4", copy=False)
                member.write(np.ascontiguousarray(stamps).tobytes())
        width = max([len(r[2]) for r in rows] + [1])
        arrays = {
            "labels": np.array([index[r[3]] for r in rows], dtype=np.int64),
            "label_keys": np.array([r[3] for r in rows], dtype=f"<U{max(len(k) for k in classes)}"),
            "confidence": np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float32),
            "candids": np.array([r[1] for r in rows], dtype=np.int64),
            "objectIds": np.array([r[2] for r in rows], dtype=f"<U{width}"),
            "classes": np.array(classes),
        }
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return n
