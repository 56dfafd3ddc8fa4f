"""preprocess(): the one path from stamps to network input, checked on the real ZTF alerts."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.preprocessing import StampError, load_stamp_batch, preprocess


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
