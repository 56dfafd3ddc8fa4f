"""Saliency against finite differences of the score, Grad-CAM against a plain computation written out here."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pytest

from classifiers.explanations import Explainer, explain_alerts, explanation_png
from classifiers.models import Explanation
from classifiers.preprocessing import load_inputs
from classifiers.registry import load_model
from classifiers.runtime import keras, tensorflow


@pytest.fixture
def model_and_inputs(braai_version, demo_alerts):
    model = load_model(braai_version)
    return model, load_inputs([a.pk for a in demo_alerts[:6]])


def score_of(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model(x, training=False)).reshape(-1).astype(np.float64)


def float64_copy(model):
    """The same network and weights in float64, so that finite differences are not drowned by rounding."""
    from classifiers.architectures import braai_vgg6

    k = keras()
    previous = k.config.dtype_policy()
    k.config.set_dtype_policy("float64")
    try:
        copy = braai_vgg6()
    finally:
        k.config.set_dtype_policy(previous)
    assert copy.get_layer("conv1").compute_dtype == "float64"
    copy.set_weights([w.astype(np.float64) for w in model.get_weights()])
    return copy


def test_saliency_is_the_gradient_of_the_score(model_and_inputs):
    model, x = model_and_inputs
    saliency = Explainer(model).saliency(x)
    assert saliency.shape == (6, 63, 63, 3)
    exact = float64_copy(model)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(score_of(exact, x64), score_of(model, x), rtol=1e-5)
    rng = np.random.default_rng(0)
    pixel_errors = []
    for i in range(len(x)):
        # Along a random direction: (f(x + e v) - f(x - e v)) / 2e against <saliency, v>.
        v = rng.normal(size=x.shape[1:])
        v /= np.linalg.norm(v)
        eps = 1e-5
        finite = (score_of(exact, (x64[i] + eps * v)[None]) - score_of(exact, (x64[i] - eps * v)[None]))[0] / (2 * eps)
        # eps = 1e-5 is where truncation (ReLU and max-pool switch points) and rounding both stay small; the
        # absolute term covers directions along which the derivative nearly cancels.
        assert finite == pytest.approx(float(np.sum(saliency[i] * v)), rel=0.03, abs=1e-5)
        # And pixel by pixel, where the map says the score is most sensitive.
        for flat in np.argsort(np.abs(saliency[i]).ravel())[-3:]:
            h, w, c = np.unravel_index(flat, saliency[i].shape)
            bump = np.zeros_like(x64[i])
            bump[h, w, c] = eps
            finite = (score_of(exact, (x64[i] + bump)[None]) - score_of(exact, (x64[i] - bump)[None]))[0] / (2 * eps)
            pixel_errors.append(abs(finite - saliency[i, h, w, c]) / abs(finite))
    # Single pixels sit next to ReLU and max-pool switch points more often than random directions do.
    assert max(pixel_errors) < 0.05, pixel_errors
    assert float(np.median(pixel_errors)) < 0.02, pixel_errors


def plain_gradcam(model, x: np.ndarray, *, verdict: bool = False) -> np.ndarray:
    """Grad-CAM the long way: conv4's activations A, the rest of VGG6 applied by hand to A (max-pool 4, flatten,
    dense1 + ReLU, score + sigmoid; dropout is the identity at inference), d score / d A, channel weights = mean of
    the gradient over the 25x25 positions, ReLU(sum_k w_k A_k), bilinear upsampling to 63x63. With ``verdict``
    the target is the logit of the chosen class instead of the sigmoid (+logit for real, -logit for bogus)."""
    tf = tensorflow()
    activations = tf.constant(keras().Model(model.inputs[0], model.get_layer("conv4").output)(x).numpy())
    w1, b1 = model.get_layer("dense1").get_weights()
    w2, b2 = model.get_layer("score").get_weights()
    with tf.GradientTape() as tape:
        tape.watch(activations)
        pooled = tf.nn.max_pool2d(activations, ksize=4, strides=4, padding="VALID")
        hidden = tf.nn.relu(tf.reshape(pooled, (len(x), -1)) @ w1 + b1)
        logit = hidden @ w2 + b2
        target = tf.abs(logit) if verdict else tf.sigmoid(logit)
        total = tf.reduce_sum(target)
    grads = tape.gradient(total, activations).numpy()
    a = activations.numpy()
    weights = grads.mean(axis=(1, 2))  # (N, 32)
    cam = np.maximum(np.einsum("nhwk,nk->nhw", a, weights), 0.0)
    return tf.image.resize(cam[..., None], (63, 63), method="bilinear").numpy()[..., 0]


def test_gradcam_agrees_with_the_plain_computation(model_and_inputs):
    model, x = model_and_inputs
    got = Explainer(model).gradcam(x)
    expected = plain_gradcam(model, x)
    assert got.shape == expected.shape == (6, 63, 63)
    assert np.all(got >= 0)
    assert np.abs(expected).max() > 0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())


def test_verdict_explanations_follow_the_chosen_class_without_underflow(model_and_inputs):
    model, x = model_and_inputs
    explainer = Explainer(model)
    np.testing.assert_allclose(
        explainer.gradcam(x, target="verdict"), plain_gradcam(model, x, verdict=True), rtol=1e-4, atol=1e-7
    )
    # Saliency of the verdict is the score's saliency divided by the sigmoid's slope p (1 - p), signed by the class.
    p = score_of(model, x)
    by_score = explainer.saliency(x)
    by_verdict = explainer.saliency(x, target="verdict")
    sign = np.where(p >= 0.5, 1.0, -1.0)
    expected = by_score / (p * (1 - p) * sign)[:, None, None, None]
    np.testing.assert_allclose(by_verdict, expected, rtol=1e-3, atol=1e-6 * np.abs(expected).max())
    # A saturated bogus verdict: the score's gradient vanishes in float32, the verdict's does not.
    kernel, bias = model.get_layer("score").get_weights()
    model.get_layer("score").set_weights([kernel, bias - 120.0])  # p below float32's smallest number
    saturated = Explainer(model)
    assert score_of(model, x[:1])[0] == 0
    assert np.abs(saturated.saliency(x[:1])).max() == 0
    assert np.abs(saturated.saliency(x[:1], target="verdict")).max() > 0
    assert saturated.gradcam(x[:1], target="verdict").max() >= 0


def test_explanations_are_cached_per_alert_version_and_kind(braai_version, demo_alerts):
    ids = [a.pk for a in demo_alerts[:5]]
    first = explain_alerts(ids, braai_version, "gradcam")
    assert Explanation.objects.filter(version=braai_version, kind="gradcam").count() == 5
    stored = Explanation.objects.get(alert_id=ids[0], version=braai_version, kind="gradcam")
    assert stored.shape == [63, 63]
    assert np.abs(first[ids[0]]).max() == pytest.approx(1.0, abs=1e-3)  # stored normalised
    with mock.patch.object(Explainer, "compute", side_effect=AssertionError("recomputed")):
        again = explain_alerts(ids, braai_version, "gradcam")
    for i in ids:
        np.testing.assert_array_equal(again[i], first[i])
    saliency = explain_alerts(ids[:2], braai_version, "saliency")
    assert saliency[ids[0]].shape == (63, 63, 3)
    assert Explanation.objects.count() == 7


def test_explanation_png_lays_the_map_over_the_three_stamps(braai_version, demo_alerts):
    from io import BytesIO

    from PIL import Image

    png = explanation_png(demo_alerts[0], braai_version, "gradcam")
    image = Image.open(BytesIO(png))
    assert image.format == "PNG"
    assert image.size == (3 * 252 + 12, 252)
