"""The input recipe: how a version's stamps become its input (whole cutout or per-row L2 norm, the pad value),
stored with the version and used by every path that feeds its network."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.explanations import KINDS, explain_alerts, explained_model, explainer_for
from classifiers.inference import predictor_for
from classifiers.preprocessing import D6_M7_RECIPE, D6_M9_RECIPE, DEFAULT_RECIPE, InputRecipe, load_inputs, preprocess
from classifiers.registry import load_model, recipe_of
from classifiers.scoring import embedding_of, score_alerts

SCIENCE = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [1.0, np.nan, 1.0]], dtype=np.float32)  # 3 rows, 3 columns


def one(recipe: InputRecipe) -> np.ndarray:
    """A short triplet (3x3 cutouts: a zero row and a NaN among them) made into input by ``recipe``."""
    (x,) = preprocess([(SCIENCE, SCIENCE * 2, SCIENCE * -1)], recipe)
    return x


def test_the_row_recipe_divides_each_row_by_its_own_norm_and_a_zero_row_stays_zero():
    x = one(InputRecipe(normalisation="row"))
    np.testing.assert_allclose(x[0, :3, 0], [0.6, 0.8, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(x[1, :3, 0], [0.0, 0.0, 0.0])
    # NaN is a zero before normalising: the row [1, 0, 1] has norm sqrt(2).
    np.testing.assert_allclose(x[2, :3, 0], [2**-0.5, 0.0, 2**-0.5], rtol=1e-6)
    np.testing.assert_allclose(x[:3, :3, 2], -x[:3, :3, 0], rtol=1e-6)  # the scale of a cutout is gone


def test_the_cutout_recipe_divides_the_whole_cutout_by_its_norm():
    x = one(InputRecipe(normalisation="cutout"))
    expected = np.nan_to_num(SCIENCE) / np.sqrt(27.0)
    np.testing.assert_allclose(x[:3, :3, 0], expected, rtol=1e-6)
    np.testing.assert_allclose(x[:3, :3, 1], expected, rtol=1e-6)


@pytest.mark.parametrize("recipe", [D6_M7_RECIPE, D6_M9_RECIPE, DEFAULT_RECIPE], ids=["row", "cutout", "default"])
def test_the_pad_value_fills_the_bottom_and_right_after_normalising(recipe):
    x = one(recipe)
    assert np.all(x[3:, :, :] == np.float32(recipe.pad_value))
    assert np.all(x[:3, 3:, :] == np.float32(recipe.pad_value))
    assert x[2, 1, 0] == 0.0  # a missing pixel inside the cutout is zero, not padding


def test_a_batch_array_of_short_stamps_is_padded_like_the_triplets():
    batch = np.stack([np.stack([SCIENCE, SCIENCE * 2, SCIENCE * -1])] * 2)  # (2, 3, 3, 3)
    np.testing.assert_array_equal(preprocess(batch, D6_M7_RECIPE)[1], one(D6_M7_RECIPE))


def test_the_row_recipe_is_keras_normalize_on_each_full_cutout():
    rng = np.random.default_rng(5)
    stamps = rng.normal(size=(4, 3, 63, 63)).astype(np.float32)
    x = preprocess(stamps, D6_M7_RECIPE)
    for channel in range(3):
        cutouts = stamps[:, channel].astype(np.float64)
        expected = cutouts / np.linalg.norm(cutouts, axis=-1, keepdims=True)
        np.testing.assert_allclose(x[..., channel], expected, rtol=1e-5, atol=1e-7)


def test_a_recipe_round_trips_through_json_and_refuses_what_it_does_not_know():
    assert InputRecipe.from_dict(D6_M7_RECIPE.to_dict()) == D6_M7_RECIPE
    with pytest.raises(ValueError, match="unknown field"):
        InputRecipe.from_dict({"normalisation": "row", "stretch": "log"})
    with pytest.raises(ValueError, match="unknown normalisation"):
        InputRecipe(normalisation="pixel")


# ------------------------------------------------------------------------------------------------------------
# Every path that feeds a version's network uses that version's recipe
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture
def row_version(braai_version):
    """A version whose recipe is d6_m7's (as an imported d6_m7 records it)."""
    braai_version.hyperparameters = {**braai_version.hyperparameters, "input_recipe": D6_M7_RECIPE.to_dict()}
    braai_version.save(update_fields=["hyperparameters"])
    return braai_version


def test_a_version_without_a_stored_recipe_gets_the_default(braai_version):
    braai_version.hyperparameters = {}
    assert recipe_of(braai_version) == DEFAULT_RECIPE


@pytest.mark.parametrize("kind", KINDS)
def test_explanations_of_a_version_are_computed_on_inputs_made_with_its_recipe(row_version, demo_alerts, kind):
    ids = [a.pk for a in demo_alerts[:4]]
    stored = explain_alerts(ids, row_version, kind)
    explainer = explainer_for(explained_model(row_version))
    for recipe, should_match in ((D6_M7_RECIPE, True), (DEFAULT_RECIPE, False)):
        maps = explainer.compute(kind, load_inputs(ids, recipe))
        for alert_id, amap in zip(ids, maps, strict=True):
            expected = amap / np.max(np.abs(amap))
            assert np.allclose(stored[alert_id], expected, atol=2e-3) == should_match


def test_embeddings_stored_with_scores_are_made_with_the_versions_recipe(row_version, demo_alerts):
    ids = sorted(a.pk for a in demo_alerts[:8])
    score_alerts(ids, row_version, embeddings=True)
    _, right = predictor_for(load_model(row_version)).scores_and_embeddings(load_inputs(ids, D6_M7_RECIPE))
    stored = np.stack([embedding_of(s) for s in row_version.scores.filter(alert_id__in=ids).order_by("alert_id")])
    np.testing.assert_allclose(stored, right, rtol=1e-2, atol=1e-3)


def test_active_learning_embeddings_computed_on_demand_use_the_versions_recipe(row_version, demo_alerts):
    from activelearning.queue import _computed_embeddings

    ids = np.array([a.pk for a in demo_alerts[:8]], dtype=np.int64)
    predictor = predictor_for(load_model(row_version))
    _, right = predictor.scores_and_embeddings(load_inputs(ids.tolist(), D6_M7_RECIPE))
    _, wrong = predictor.scores_and_embeddings(load_inputs(ids.tolist(), DEFAULT_RECIPE))
    computed = _computed_embeddings(row_version, ids)
    np.testing.assert_allclose(computed, right, rtol=1e-5, atol=1e-6)
    assert not np.allclose(computed, wrong, rtol=1e-2, atol=1e-3)
