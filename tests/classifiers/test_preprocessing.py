"""preprocess(): the one path from stamps to network input, checked on the real ZTF alerts."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.preprocessing import (
    D6_M7_RECIPE,
    InputRecipe,
    StampError,
    input_window,
    load_stamp_batch,
    preprocess,
)


@pytest.fixture
def real_avro_alerts(db, real_data):
    from labeling.ingest import ingest_paths
    from labeling.models import Alert

    report = ingest_paths([real_data / "avro"])
    assert report.rejected == 0, report.errors
    return list(Alert.objects.order_by("pk"))


def usable(stamp) -> np.ndarray:
    """Pixels with data: NaN (no data) and float32's largest value (a fill value some templates carry) to 0."""
    s = np.asarray(stamp, dtype=np.float64)
    return np.where(np.isfinite(s) & (np.abs(s) < 1e30), s, 0.0)


def braai_by_hand(science, template, difference) -> np.ndarray:
    """braai's recipe written out for one alert: missing pixels to 0, divide each stamp by its L2 norm, pad."""
    out = np.zeros((63, 63, 3), dtype=np.float64)
    for c, stamp in enumerate((science, template, difference)):
        s = usable(stamp)
        norm = np.linalg.norm(s)
        out[: s.shape[0], : s.shape[1], c] = s / norm if norm > 0 else s
    return out


def test_it_turns_every_real_stamp_into_unit_norm_63x63x3_without_nan(real_avro_alerts):
    ids = [a.pk for a in real_avro_alerts]
    raw = load_stamp_batch(ids)
    x = preprocess(raw)

    assert x.shape == (len(ids), 63, 63, 3)
    assert x.dtype == np.float32
    assert not np.isnan(x).any()
    norms = np.sqrt((x.astype(np.float64) ** 2).sum(axis=(1, 2)))
    nonzero = np.array([[np.any(usable(s) != 0) for s in triplet] for triplet in raw])
    np.testing.assert_allclose(norms[nonzero], 1.0, rtol=1e-5)
    assert np.all(norms[~nonzero] == 0)


def test_it_matches_braai_by_hand_on_stamps_with_missing_pixels(real_avro_alerts):
    ids = [a.pk for a in real_avro_alerts]
    raw = load_stamp_batch(ids)
    with_nan = [i for i, triplet in enumerate(raw) if any(np.isnan(s).any() for s in triplet)]
    with_fill = [i for i, triplet in enumerate(raw) if any((np.abs(s) > 1e30).any() for s in triplet)]
    assert with_nan, "the real packets include stamps with NaN pixels"
    assert with_fill, "the real packets include templates with float32-max fill values"
    with_nan += with_fill
    x = preprocess([raw[i] for i in with_nan])
    for row, i in enumerate(with_nan):
        np.testing.assert_allclose(x[row], braai_by_hand(*raw[i]), rtol=1e-5, atol=1e-7)


def test_it_pads_the_63x55_edge_stamp_with_zeros(real_avro_alerts):
    from labeling.models import Stamps

    edge = Stamps.objects.get(width=55)
    raw = load_stamp_batch([edge.alert_id])
    (x,) = preprocess(raw)
    assert x.shape == (63, 63, 3)
    assert np.all(x[:, 55:, :] == 0)
    np.testing.assert_allclose(x, braai_by_hand(*raw[0]), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.sqrt((x.astype(np.float64) ** 2).sum(axis=(0, 1))), 1.0, rtol=1e-5)


def test_preprocessed_input_is_a_fixed_point():
    rng = np.random.default_rng(0)
    stamps = rng.normal(size=(4, 3, 63, 63)).astype(np.float32)
    once = preprocess(stamps)
    np.testing.assert_allclose(preprocess(once), once, rtol=1e-6)
    # Channels-first and a list of triplets give the same input.
    np.testing.assert_allclose(preprocess([tuple(s) for s in stamps]), once, rtol=1e-6)


def test_it_names_the_item_of_a_stamp_that_cannot_be_input():
    good = np.ones((63, 63), dtype=np.float32)
    with pytest.raises(StampError, match="item 1, stamp 2: expected a 2-D image"):
        preprocess([(good, good, good), (good, good, np.ones((63, 63, 2)))])
    with pytest.raises(StampError, match="item 0, stamp 0: 70x63 is larger than 63x63"):
        preprocess([(np.ones((70, 63)), good, good)])


def test_load_stamp_batch_keeps_the_order_given_and_names_missing_alerts(demo_alerts):
    ids = [a.pk for a in demo_alerts[:5]][::-1]
    batch = load_stamp_batch(ids)
    for alert_id, triplet in zip(ids, batch, strict=True):
        expected = demo_alerts[[a.pk for a in demo_alerts].index(alert_id)].stamps.arrays()
        for got, want in zip(triplet, expected, strict=True):
            np.testing.assert_array_equal(got, want)
    with pytest.raises(StampError, match="alert id 999999"):
        load_stamp_batch([ids[0], 999999])


# ------------------------------------------------------------------------------------------------------------
# The recipe's fit: how a cutout of another size (Rubin: 30x30 to 71x71) becomes 63x63
# ------------------------------------------------------------------------------------------------------------

CENTRE = InputRecipe(fit="centre")


def stamps_of(size: int, n: int = 1, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Distinct positive pixels, so any shift of the window shows."""
    rng = np.random.default_rng(seed)
    return [tuple(rng.uniform(1, 2, size=(size, size)).astype(np.float32) for _ in range(3)) for _ in range(n)]


def unit(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a / np.linalg.norm(a)


def test_the_centre_fit_crops_a_71x71_cutout_about_its_centre_and_normalises_what_it_keeps():
    (triplet,) = stamps_of(71)
    (x,) = preprocess([triplet], CENTRE)
    assert x.shape == (63, 63, 3)
    for c, stamp in enumerate(triplet):
        # 71 - 63 = 8 pixels cropped, 4 on each side: the source, in the middle, stays in the middle.
        np.testing.assert_allclose(x[..., c], unit(stamp[4:67, 4:67]), rtol=1e-5)
    # The edge fit (ZTF's) refuses what it cannot hold rather than cut it.
    with pytest.raises(StampError, match="71x71 is larger than 63x63"):
        preprocess([triplet])


def test_the_centre_fit_pads_a_30x30_cutout_evenly_with_the_pad_value():
    (triplet,) = stamps_of(30)
    recipe = InputRecipe(normalisation="cutout", pad_value=1e-9, fit="centre")
    (x,) = preprocess([triplet], recipe)
    inside = (slice(16, 46), slice(16, 46))  # (63 - 30) // 2 = 16 before, 17 after
    for c, stamp in enumerate(triplet):
        np.testing.assert_allclose(x[inside][..., c], unit(stamp), rtol=1e-5)
        outside = np.ones((63, 63), dtype=bool)
        outside[inside] = False
        assert np.all(x[..., c][outside] == np.float32(1e-9))
    # The edge fit pads the same cutout at its end instead.
    (edge,) = preprocess([triplet], InputRecipe(pad_value=1e-9))
    np.testing.assert_allclose(edge[:30, :30, 0], unit(triplet[0]), rtol=1e-5)
    assert np.all(edge[30:, :, 0] == np.float32(1e-9))


def test_the_centre_fit_normalises_each_row_of_what_it_keeps_under_the_row_recipe():
    (triplet,) = stamps_of(71, seed=1)
    (x,) = preprocess([triplet], InputRecipe(normalisation="row", fit="centre"))
    kept = triplet[2][4:67, 4:67].astype(np.float64)
    np.testing.assert_allclose(x[..., 2], kept / np.linalg.norm(kept, axis=1, keepdims=True), rtol=1e-5)


def test_missing_pixels_of_a_centred_cutout_become_zero_not_padding():
    (triplet,) = stamps_of(30, seed=2)
    science = triplet[0].copy()
    science[3, 5] = np.nan
    science[10, :] = np.nan
    recipe = InputRecipe(pad_value=1e-9, fit="centre")
    (x,) = preprocess([(science, triplet[1], triplet[2])], recipe)
    assert not np.isnan(x).any()
    assert x[16 + 3, 16 + 5, 0] == 0.0
    assert np.all(x[16 + 10, 16:46, 0] == 0.0)
    expected = unit(np.nan_to_num(science, nan=0.0))
    np.testing.assert_allclose(x[16:46, 16:46, 0], expected, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(x[16:46, 16:46, 0].astype(np.float64)), 1.0, rtol=1e-5)


@pytest.mark.parametrize("size", [30, 45, 71])
def test_a_batch_array_of_any_size_gives_the_same_input_as_the_list_of_triplets(size):
    triplets = stamps_of(size, n=4, seed=size)
    triplets[1][2][0, 0] = np.nan  # a missing pixel, inside the window of every size
    recipe = InputRecipe(normalisation="cutout", pad_value=1e-9, fit="centre")
    listed = preprocess(triplets, recipe)
    channels_first = np.stack([np.stack(t) for t in triplets])  # (N, 3, H, W)
    np.testing.assert_array_equal(preprocess(channels_first, recipe), listed)
    np.testing.assert_array_equal(preprocess(np.moveaxis(channels_first, 1, -1).copy(), recipe), listed)


@pytest.mark.parametrize(
    ("shape", "recipe", "window"),
    [
        ((71, 71), CENTRE, ((4, 67), (4, 67), (0, 63), (0, 63))),
        ((30, 30), CENTRE, ((0, 30), (0, 30), (16, 46), (16, 46))),
        ((30, 71), CENTRE, ((0, 30), (4, 67), (16, 46), (0, 63))),
        ((64, 62), CENTRE, ((0, 63), (0, 62), (0, 63), (0, 62))),
        ((63, 63), CENTRE, ((0, 63), (0, 63), (0, 63), (0, 63))),
        ((63, 55), InputRecipe(), ((0, 63), (0, 55), (0, 63), (0, 55))),
        ((30, 30), InputRecipe(), ((0, 30), (0, 30), (0, 30), (0, 30))),
    ],
)
def test_input_window_says_which_stamp_pixels_land_where(shape, recipe, window):
    got = input_window(*shape, recipe)
    assert [(s.start, s.stop) for s in got] == list(window)
    # It is the map preprocess() itself uses: the stamp's window, normalised, is what lands in the input's.
    stamp = np.arange(1, shape[0] * shape[1] + 1, dtype=np.float32).reshape(shape)
    (x,) = preprocess([(stamp, stamp, stamp)], recipe)
    stamp_rows, stamp_cols, rows, cols = got
    np.testing.assert_allclose(x[rows, cols, 1], unit(stamp[stamp_rows, stamp_cols]), rtol=1e-5)


def test_input_window_refuses_a_larger_cutout_under_the_edge_fit():
    with pytest.raises(StampError, match="71x71 is larger than 63x63"):
        input_window(71, 71, InputRecipe(fit="edge"))


def test_a_recipe_round_trips_with_its_fit_and_an_old_stored_recipe_reads_as_edge():
    recipe = InputRecipe(normalisation="row", pad_value=1e-9, fit="centre")
    assert recipe.to_dict() == {"normalisation": "row", "pad_value": 1e-9, "fit": "centre"}
    assert InputRecipe.from_dict(recipe.to_dict()) == recipe
    # Stored before fits existed: ZTF's behaviour, as every version then was scored.
    old = InputRecipe.from_dict({"normalisation": "row", "pad_value": 1e-9})
    assert old.fit == "edge"
    assert old == D6_M7_RECIPE
    with pytest.raises(ValueError, match="unknown fit 'middle'"):
        InputRecipe.from_dict({"normalisation": "cutout", "pad_value": 0.0, "fit": "middle"})
    assert "centre-crop or pad" in recipe.describe()


def test_the_registry_reads_a_versions_fit_and_a_rubin_version_is_always_centred(db):
    from classifiers.models import ModelVersion, Task
    from classifiers.registry import recipe_of

    old = ModelVersion(task=Task.REAL_BOGUS, hyperparameters={"input_recipe": {"normalisation": "row", "pad_value": 0}})
    assert recipe_of(old).fit == "edge"
    centred = {"input_recipe": {"normalisation": "cutout", "pad_value": 1e-9, "fit": "centre"}}
    assert recipe_of(ModelVersion(task=Task.REAL_BOGUS, hyperparameters=centred)).fit == "centre"
    rubin = ModelVersion(task=Task.RUBIN_REAL_BOGUS, hyperparameters={"input_recipe": {"normalisation": "row"}})
    assert recipe_of(rubin) == InputRecipe(normalisation="row", fit="centre")
