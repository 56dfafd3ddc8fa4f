"""Stamps to network input: the one path used by training, scoring, explanations, embeddings, evaluation, the
active-learning simulation and the benches.

braai's recipe (Duev et al. 2019): the science, template and difference cutouts are stacked as the three
channels of a 63x63 image; NaN pixels become zero; each cutout is divided by its own L2 norm, so the network
sees shapes rather than fluxes; cutouts cut short by a CCD edge are padded to 63x63.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

STAMP_SIZE = 63
N_CHANNELS = 3
INPUT_SHAPE = (STAMP_SIZE, STAMP_SIZE, N_CHANNELS)
# A few real templates carry float32's largest value (3.4e38) where pixels are masked: a fill value, not flux.
# Anything this large is treated like NaN; no sky pixel comes near it.
FILL_VALUE_LIMIT = 1e30
# Rows per query when reading stamps: large enough to amortise the round trip, small enough for an IN list.
LOAD_CHUNK = 2000

Triplet = tuple[np.ndarray, np.ndarray, np.ndarray]


class StampError(ValueError):
    """A stamp that cannot become network input (wrong number of dimensions, larger than 63x63, missing)."""


def _place(out: np.ndarray, index: int, triplet: Sequence[np.ndarray]) -> None:
    if len(triplet) != N_CHANNELS:
        raise StampError(f"item {index}: expected 3 stamps (science, template, difference), got {len(triplet)}")
    for channel, stamp in enumerate(triplet):
        stamp = np.asarray(stamp)
        if stamp.ndim != 2:
            raise StampError(f"item {index}, stamp {channel}: expected a 2-D image, got shape {stamp.shape}")
        height, width = stamp.shape
        if height > STAMP_SIZE or width > STAMP_SIZE:
            raise StampError(f"item {index}, stamp {channel}: {height}x{width} is larger than 63x63")
        # braai (and Kowalski, which serves it) pad an edge stamp at its end (bottom and right) with ~0;
        # doing the same keeps Blink's inputs what the published model saw.
        out[index, :height, :width, channel] = stamp


def stack_triplets(stamps_batch: Iterable[Sequence[np.ndarray]] | np.ndarray) -> np.ndarray:
    """Raw (N, 63, 63, 3) float32 from triplets of possibly smaller 2-D stamps, padded with zeros; NaN kept."""
    if isinstance(stamps_batch, np.ndarray):
        return _stack_array(stamps_batch)
    items = stamps_batch if isinstance(stamps_batch, Sequence) else list(stamps_batch)
    out = np.zeros((len(items), *INPUT_SHAPE), dtype=np.float32)
    for index, triplet in enumerate(items):
        _place(out, index, triplet)
    return out


def _stack_array(batch: np.ndarray) -> np.ndarray:
    if batch.ndim != 4:
        raise StampError(f"expected a batch of shape (N, 3, H, W) or (N, H, W, 3), got {batch.shape}")
    if batch.shape[-1] == N_CHANNELS and batch.shape[1] != N_CHANNELS:
        channels_last = batch
    elif batch.shape[1] == N_CHANNELS:
        channels_last = np.moveaxis(batch, 1, -1)
    elif batch.shape[-1] == N_CHANNELS:
        channels_last = batch
    else:
        raise StampError(f"expected 3 channels on axis 1 or 3, got shape {batch.shape}")
    n, height, width, _ = channels_last.shape
    if height > STAMP_SIZE or width > STAMP_SIZE:
        raise StampError(f"stamps of {height}x{width} are larger than 63x63")
    out = np.zeros((n, *INPUT_SHAPE), dtype=np.float32)
    out[:, :height, :width, :] = channels_last
    return out


def normalise_inplace(x: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Missing pixels to zero, then each stamp divided by its L2 norm; all-zero stamps stay zero."""
    # ZTF pads edge stamps with NaN and masks saturated pixels the same way; braai filled them with zeros
    # before normalising. An inf or a float32-max fill value would make the whole stamp's norm overflow, so
    # they are treated the same. Chunks keep the temporaries in cache (10,000 stamps are 476 MB).
    for start in range(0, len(x), chunk):
        block = x[start : start + chunk]
        with np.errstate(invalid="ignore"):
            missing = ~(np.abs(block) < FILL_VALUE_LIMIT)  # NaN compares False: caught here too
        block[missing] = 0.0
        norms = np.sqrt(np.einsum("nhwc,nhwc->nc", block, block, dtype=np.float64)).astype(np.float32)
        norms[norms == 0] = 1.0
        block /= norms[:, None, None, :]
    return x


def preprocess(stamps_batch: Iterable[Sequence[np.ndarray]] | np.ndarray) -> np.ndarray:
    """Network input, (N, 63, 63, 3) float32, from a batch of stamp triplets.

    ``stamps_batch`` is either a sequence of (science, template, difference) 2-D arrays (``alert.stamps.arrays()``,
    possibly smaller than 63x63 and with NaN), or one array of shape (N, 3, H, W) or (N, H, W, 3). Applying it to
    already preprocessed input changes nothing (each stamp already has unit norm).
    """
    return normalise_inplace(stack_triplets(stamps_batch))


def load_stamp_batch(alert_ids: Sequence[int]) -> list[Triplet]:
    """The raw (science, template, difference) arrays of these alerts, in the order given.

    Reads ``Stamps`` rows in chunks with ``values_list`` (no model instances) and decodes each blob once.
    Raises :class:`StampError` naming the alerts that have no stamps.
    """
    from labeling.models import Stamps, stamp_array

    ids = [int(i) for i in alert_ids]
    found: dict[int, Triplet] = {}
    for start in range(0, len(ids), LOAD_CHUNK):
        chunk = ids[start : start + LOAD_CHUNK]
        rows = Stamps.objects.filter(alert_id__in=chunk).values_list(
            "alert_id", "height", "width", "science", "template", "difference"
        )
        for alert_id, height, width, science, template, difference in rows:
            found[alert_id] = (
                stamp_array(science, height, width),
                stamp_array(template, height, width),
                stamp_array(difference, height, width),
            )
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(str(i) for i in missing[:10])
        raise StampError(
            f"{len(missing)} alert(s) have no stamps: alert id {shown}{' ...' if len(missing) > 10 else ''}"
        )
    return [found[i] for i in ids]


def load_inputs(alert_ids: Sequence[int]) -> np.ndarray:
    """``preprocess(load_stamp_batch(alert_ids))``: network input for these alerts, in the order given."""
    return preprocess(load_stamp_batch(alert_ids))
