"""Stamps to network input: the one path used by training, scoring, explanations, embeddings, evaluation, the
active-learning simulation and the benches.

braai's recipe (Duev et al. 2019): the science, template and difference cutouts are stacked as the three
channels of a 63x63 image; NaN pixels become zero; each cutout is normalised, so the network sees shapes rather
than fluxes; cutouts cut short by a CCD edge are padded to 63x63 at their end. How a cutout is normalised and
what the padding holds differ between published versions, and the same weights fed another recipe silently
become another classifier: so the recipe (:class:`InputRecipe`) belongs to each model version and is a
parameter of every function here that makes network input.

Another survey's cutouts come in other sizes (Rubin: 30x30 to 71x71, centred on the source). The recipe's
``fit`` says how they become 63x63: ``"edge"`` (ZTF's) pads a short cutout at its end and refuses a larger one;
``"centre"`` crops a larger cutout about its centre and pads a smaller one evenly around it, so the source stays
in the middle of the input where braai learnt to look. :func:`input_window` says which stamp pixels land where,
so an explanation can be drawn back over the stamp.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

STAMP_SIZE = 63
N_CHANNELS = 3
INPUT_SHAPE = (STAMP_SIZE, STAMP_SIZE, N_CHANNELS)
# A few real templates carry float32's largest value (3.4e38) where pixels are masked: a fill value, not flux.
# Anything this large is treated like NaN; no sky pixel comes near it.
FILL_VALUE_LIMIT = 1e30
# Rows per query when reading stamps: large enough to amortise the round trip, small enough for an IN list.
LOAD_CHUNK = 2000
# Stamps normalised at a time: their buffers (a few MB) stay in cache.
NORMALISE_CHUNK = 256

Triplet = tuple[np.ndarray, np.ndarray, np.ndarray]
NORMALISATIONS = ("cutout", "row")
FITS = ("edge", "centre")


@dataclass(frozen=True)
class InputRecipe:
    """How stamps become the input of one model version (stored in its ``hyperparameters["input_recipe"]``).

    ``normalisation``: ``"cutout"`` divides each cutout by its own L2 norm; ``"row"`` divides each row of a cutout
    by that row's L2 norm (``tf.keras.utils.normalize`` on the 2-D cutout, as braai d6_m7 and earlier were
    trained). ``pad_value``: what fills the part of a 63x63 input that an edge cutout does not cover, set after
    normalising so it never enters a norm. ``fit``: how a cutout of another size becomes 63x63 (the module
    docstring); normalisation then applies to what the input holds.
    """

    normalisation: str = "cutout"
    pad_value: float = 0.0
    fit: str = "edge"

    def __post_init__(self):
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"unknown normalisation {self.normalisation!r}; expected one of {', '.join(NORMALISATIONS)}"
            )
        if self.fit not in FITS:
            raise ValueError(f"unknown fit {self.fit!r}; expected one of {', '.join(FITS)}")
        object.__setattr__(self, "pad_value", float(self.pad_value))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> InputRecipe:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"input recipe: unknown field(s) {', '.join(unknown)}")
        return cls(**data)

    def describe(self) -> str:
        text = f"{self.normalisation} L2 norm, pad {self.pad_value:g}"
        return text + (", centre-crop or pad to 63x63" if self.fit == "centre" else "")


# What every Blink-trained model has seen: whole-cutout normalisation, zero padding.
DEFAULT_RECIPE = InputRecipe()
# braai's published versions (nb/braai_run.ipynb in dmitryduev/braai): both pad with 1e-9.
D6_M7_RECIPE = InputRecipe(normalisation="row", pad_value=1e-9)
D6_M9_RECIPE = InputRecipe(normalisation="cutout", pad_value=1e-9)


class StampError(ValueError):
    """A stamp that cannot become network input (wrong number of dimensions, larger than 63x63, missing)."""


def input_window(height: int, width: int, recipe: InputRecipe = DEFAULT_RECIPE) -> tuple[slice, slice, slice, slice]:
    """Where a ``height`` x ``width`` cutout goes in the 63x63 input: ``(stamp_rows, stamp_cols, input_rows,
    input_cols)``, so that ``input[input_rows, input_cols] = stamp[stamp_rows, stamp_cols]``. Raises
    :class:`StampError` for a cutout larger than 63x63 under the ``"edge"`` fit."""
    if recipe.fit == "edge":
        if height > STAMP_SIZE or width > STAMP_SIZE:
            raise StampError(f"{height}x{width} is larger than 63x63")
        return slice(0, height), slice(0, width), slice(0, height), slice(0, width)
    windows = []
    for size in (height, width):
        kept = min(size, STAMP_SIZE)
        first = (size - kept) // 2  # cropped off the start of a larger cutout
        placed = (STAMP_SIZE - kept) // 2  # padding before a smaller one
        windows.append((slice(first, first + kept), slice(placed, placed + kept)))
    (stamp_rows, input_rows), (stamp_cols, input_cols) = windows
    return stamp_rows, stamp_cols, input_rows, input_cols


# (item, channel, input rows, input cols) of each cutout that does not fill 63x63: once normalised, everything
# outside its window is padding.
Short = list[tuple[int, int, slice, slice]]
FULL = slice(0, STAMP_SIZE)


def _put(plane: np.ndarray, stamp: np.ndarray, recipe: InputRecipe, where: str):
    """Copy one cutout into its 63x63 plane as the recipe fits it, zero elsewhere; the window it covers when that
    is not the whole plane, else None."""
    try:
        stamp_rows, stamp_cols, rows, cols = input_window(*stamp.shape, recipe)
    except StampError as exc:
        raise StampError(f"{where}: {exc}") from None
    if rows == FULL and cols == FULL:
        plane[:] = stamp[stamp_rows, stamp_cols]
        return None
    plane[:] = 0.0
    plane[rows, cols] = stamp[stamp_rows, stamp_cols]
    return rows, cols


def _place(block: np.ndarray, short: Short, index: int, offset: int, triplet, recipe: InputRecipe) -> None:
    if len(triplet) != N_CHANNELS:
        raise StampError(
            f"item {offset + index}: expected 3 stamps (science, template, difference), got {len(triplet)}"
        )
    for channel, stamp in enumerate(triplet):
        stamp = np.asarray(stamp)
        if stamp.ndim != 2:
            raise StampError(f"item {offset + index}, stamp {channel}: expected a 2-D image, got shape {stamp.shape}")
        window = _put(block[index, channel], stamp, recipe, f"item {offset + index}, stamp {channel}")
        if window is not None:
            short.append((index, channel, *window))


def _channels_first(batch: np.ndarray, recipe: InputRecipe) -> np.ndarray:
    """A (N, 3, H, W) view of a batch given channels first or last."""
    if batch.ndim != 4:
        raise StampError(f"expected a batch of shape (N, 3, H, W) or (N, H, W, 3), got {batch.shape}")
    if batch.shape[-1] == N_CHANNELS and batch.shape[1] != N_CHANNELS:
        batch = np.moveaxis(batch, -1, 1)
    elif batch.shape[1] != N_CHANNELS:
        raise StampError(f"expected 3 channels on axis 1 or 3, got shape {batch.shape}")
    try:
        input_window(*batch.shape[2:], recipe)
    except StampError as exc:
        raise StampError(f"stamps of {exc}") from None
    return batch


def _fill(block: np.ndarray, items, offset: int, recipe: InputRecipe) -> Short:
    """Copy a chunk of stamps into ``block`` (n, 3, 63, 63) as the recipe fits them, zero where a cutout leaves
    room."""
    short: Short = []
    if isinstance(items, np.ndarray):
        stamp_rows, stamp_cols, rows, cols = input_window(*items.shape[2:], recipe)
        if rows != FULL or cols != FULL:
            block[:] = 0.0
            short = [(i, c, rows, cols) for i in range(len(block)) for c in range(N_CHANNELS)]
        block[:, :, rows, cols] = items[:, :, stamp_rows, stamp_cols]
        return short
    for index, triplet in enumerate(items):
        _place(block, short, index, offset, triplet, recipe)
    return short


def _normalise(block: np.ndarray, scratch: np.ndarray, usable: np.ndarray, per_row: bool) -> None:
    """Missing pixels to zero, then each cutout (or each of its rows) divided by its L2 norm, in place; all-zero
    cutouts and rows stay zero. Channels first, so every reduction and product runs along contiguous rows."""
    # ZTF pads edge stamps with NaN and masks saturated pixels the same way; braai filled them with zeros
    # before normalising. An inf or a float32-max fill value would make the whole stamp's norm overflow, so
    # they are treated the same.
    np.abs(block, out=scratch)
    with np.errstate(invalid="ignore"):
        np.less(scratch, FILL_VALUE_LIMIT, out=usable)  # NaN compares False: caught here too
    if not usable.all():
        np.logical_not(usable, out=usable)
        np.copyto(block, 0.0, where=usable)
    if per_row:
        # 63 terms per row: float32 sums are exact enough, and float64 only where a row overflows them.
        squares = np.einsum("nchw,nchw->nch", block, block)
        if not np.isfinite(squares).all():
            squares = np.einsum("nchw,nchw->nch", block, block, dtype=np.float64)
        factors = np.sqrt(squares).astype(np.float32, copy=False)[..., None]
    else:
        flat = block.reshape(len(block) * N_CHANNELS, -1)
        factors = np.sqrt(np.einsum("ij,ij->i", flat, flat, dtype=np.float64)).astype(np.float32)
        factors = factors.reshape(len(block), N_CHANNELS, 1, 1)
    factors[factors == 0] = 1.0
    np.reciprocal(factors, out=factors)
    block *= factors


def _pad(block: np.ndarray, short: Short, value: float) -> None:
    """Fill what each short cutout left uncovered with the recipe's pad value."""
    if value == 0.0:
        return  # already zero
    for index, channel, rows, cols in short:
        plane = block[index, channel]
        inside = plane[rows, cols].copy()
        plane[:] = value
        plane[rows, cols] = inside


def preprocess(
    stamps_batch: Iterable[Sequence[np.ndarray]] | np.ndarray, recipe: InputRecipe = DEFAULT_RECIPE
) -> np.ndarray:
    """Network input, (N, 63, 63, 3) float32, from a batch of stamp triplets, made with ``recipe``.

    ``stamps_batch`` is either a sequence of (science, template, difference) 2-D arrays (``alert.stamps.arrays()``,
    of any size the recipe's fit takes, possibly with NaN), or one array of shape (N, 3, H, W) or (N, H, W, 3).
    Applying it to already preprocessed 63x63 input changes nothing (each cutout, or row, already has unit norm).
    """
    if isinstance(stamps_batch, np.ndarray):
        items = _channels_first(stamps_batch, recipe)
    else:
        items = stamps_batch if isinstance(stamps_batch, Sequence) else list(stamps_batch)
    out = np.empty((len(items), *INPUT_SHAPE), dtype=np.float32)
    # Chunks of stamps are worked on channels first, in buffers reused from chunk to chunk that stay in cache;
    # each is written to the channels-last input once done.
    size = min(NORMALISE_CHUNK, len(items))
    buffer = np.empty((size, N_CHANNELS, STAMP_SIZE, STAMP_SIZE), dtype=np.float32)
    scratch, usable = np.empty_like(buffer), np.empty(buffer.shape, dtype=bool)
    per_row = recipe.normalisation == "row"
    for start in range(0, len(items), NORMALISE_CHUNK):
        n = min(NORMALISE_CHUNK, len(items) - start)
        block = buffer[:n]
        short = _fill(block, items[start : start + n], start, recipe)
        _normalise(block, scratch[:n], usable[:n], per_row)
        _pad(block, short, recipe.pad_value)
        out[start : start + n] = block.transpose(0, 2, 3, 1)
    return out


STAMP_COLUMNS = ("alert_id", "height", "width", "science", "template", "difference")


def _stamp_rows(alert_ids: list[int]):
    """``STAMP_COLUMNS`` of these alerts' stamps. On PostgreSQL in the binary protocol: Django's cursors ask for
    text, in which every stamp byte travels as two hex digits for the client to decode, and reading the stamps
    was then the dearest step of scoring."""
    from django.db import connection

    from labeling.models import Stamps

    if connection.vendor != "postgresql":
        return Stamps.objects.filter(alert_id__in=alert_ids).values_list(*STAMP_COLUMNS)
    import psycopg

    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"SELECT {', '.join(STAMP_COLUMNS)} FROM {Stamps._meta.db_table} WHERE alert_id = ANY(%s)",
            [alert_ids],
            binary=True,
        )
        return cursor.fetchall()


def load_stamp_batch(alert_ids: Sequence[int]) -> list[Triplet]:
    """The raw (science, template, difference) arrays of these alerts, in the order given.

    Reads ``Stamps`` rows in chunks (no model instances) and decodes each blob once.
    Raises :class:`StampError` naming the alerts that have no stamps.
    """
    from labeling.models import stamp_array

    ids = [int(i) for i in alert_ids]
    found: dict[int, Triplet] = {}
    for start in range(0, len(ids), LOAD_CHUNK):
        for alert_id, height, width, science, template, difference in _stamp_rows(ids[start : start + LOAD_CHUNK]):
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


def load_inputs(alert_ids: Sequence[int], recipe: InputRecipe = DEFAULT_RECIPE) -> np.ndarray:
    """``preprocess(load_stamp_batch(alert_ids), recipe)``: network input for these alerts, in the order given."""
    return preprocess(load_stamp_batch(alert_ids), recipe)
