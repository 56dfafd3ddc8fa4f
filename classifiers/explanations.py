"""Why a model scored a candidate the way it did: vanilla saliency and Grad-CAM, batched and cached.

* Saliency (Simonyan et al. 2014): the gradient of the score with respect to the network input, kept per
  channel (science, template, difference), so one sees which pixels of which stamp moved the score.
* Grad-CAM (Selvaraju et al. 2017): the last convolutional layer's activations (``conv4`` in VGG6), weighted by
  the spatial mean of the score's gradient with respect to them, summed over channels, ReLU, upsampled
  bilinearly to 63x63. It keeps spatial information the dense layers lose.

Both are computed in batches of preprocessed stamps (the same ``preprocess()`` as training and scoring, with the
explained version's own input recipe: a map of inputs the model never sees explains nothing). What pages
show and the cache keeps is the explanation of the model's verdict (see :class:`Explainer`), stored per
(alert, version, kind) as float16, zlib-compressed, normalised to a maximum absolute value of 1
(raw gradients of a confident sigmoid are tiny and would underflow float16).

An alert is explained by its own survey's real/bogus model (:func:`explaining_version`): a ZTF model never
explains a Rubin stamp. The network sees every cutout as 63x63 (the recipe's ``fit``); the maps are cut back to the
cutout's own size (:func:`map_on_stamp`) before they are stored, so they lie over the stamp the page draws: a
smaller cutout's padding is cropped away, and a larger cutout's border, which the network never saw, is zero.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence

import numpy as np

from classifiers.architectures import last_conv_layer_name
from classifiers.models import REAL_BOGUS_TASK_OF_SURVEY, TASK_SURVEY, Explanation, ModelVersion, Task
from classifiers.preprocessing import (
    DEFAULT_RECIPE,
    INPUT_SHAPE,
    InputRecipe,
    input_window,
    load_stamp_batch,
    preprocess,
)
from classifiers.runtime import keras, tensorflow
from core.errors import ServiceError

KINDS = (Explanation.Kind.SALIENCY, Explanation.Kind.GRADCAM)
BATCH_SIZE = 256


class ExplanationRefused(ServiceError):
    """An explanation asked of a model that cannot give it (another survey's model, or no active model)."""

    code = "explanation_refused"


def explaining_version(alert, version: ModelVersion | None = None) -> ModelVersion:
    """The version that explains ``alert``: ``version`` when it is a model of the alert's survey, else the active
    version of that survey's real/bogus task (``REAL_BOGUS_TASK_OF_SURVEY``) when none is named. A version of
    another survey is refused rather than replaced: its map of another instrument's pixels explains nothing, and
    a silent substitute would answer a question nobody asked."""
    from classifiers.registry import active_version

    survey = getattr(alert, "survey", "ztf") or "ztf"
    task = REAL_BOGUS_TASK_OF_SURVEY.get(survey, Task.REAL_BOGUS)
    if version is None:
        version = active_version(task)
        if version is None:
            what = "Rubin real/bogus" if task == Task.RUBIN_REAL_BOGUS else "real/bogus"
            raise ExplanationRefused(f"no {what} model is active yet, so there is nothing to explain", status=404)
        return version
    if TASK_SURVEY.get(version.task) != survey:
        raise ExplanationRefused(
            f"{version.label} is a model of {TASK_SURVEY.get(version.task, '?')} alerts; a {survey} alert is "
            f"explained by a {task} version",
            field="version",
        )
    return version


def map_on_stamp(amap: np.ndarray, height: int, width: int, recipe: InputRecipe = DEFAULT_RECIPE) -> np.ndarray:
    """A 63x63 (x channels) input map drawn back over a ``height`` x ``width`` cutout, undoing the recipe's fit:
    the part of the input the cutout filled goes back where it came from, and a cutout's pixels the network never
    saw (the border cropped off a larger one) get zero. A map already at the cutout's size is returned as is."""
    if amap.shape[:2] == (height, width):
        return amap
    stamp_rows, stamp_cols, rows, cols = input_window(height, width, recipe)
    out = np.zeros((height, width, *amap.shape[2:]), dtype=amap.dtype)
    out[stamp_rows, stamp_cols] = amap[rows, cols]
    return out


def explained_model(version: ModelVersion):
    """The Keras model explanations are computed on: braai itself, or the streak ensemble's first rb member
    (whether the candidate is a real streak at all)."""
    from classifiers.registry import load_model

    model = load_model(version)
    if version.task == Task.STREAKS:
        return model.members["rb"][0]
    return model


SCORE = "score"
VERDICT = "verdict"
TARGETS = (SCORE, VERDICT)


class Explainer:
    """Traced saliency and Grad-CAM functions for one single-sigmoid model.

    Two targets: ``score``, the sigmoid output itself (what the definitions say, and what the tests check against
    finite differences and a plain computation); and ``verdict``, the logit of the class the model chose (+logit when
    it says real, -logit when it says bogus). Pages use ``verdict``: for a confident model the sigmoid's own gradient
    p(1 - p) underflows float32 to zero (a masked star scored 1e-20 gets an empty map), and "why bogus?" is the
    question asked of a bogus verdict. Per alert the two differ by one positive factor for saliency; Grad-CAM of a
    bogus verdict shows the evidence for bogus."""

    def __init__(self, model, conv_layer: str | None = None):
        tf = tensorflow()
        self.model = model
        self.conv_layer = conv_layer or last_conv_layer_name(model)
        spec = tf.TensorSpec(shape=(None, *INPUT_SHAPE), dtype=tf.float32)
        score_layer = model.get_layer("score")
        kernel, bias = score_layer.kernel, score_layer.bias
        # The input of the last layer (dense1 after dropout, the identity at inference) gives the logit.
        parts = keras().Model(model.inputs[0], [model.get_layer(self.conv_layer).output, score_layer.input])

        def objective(features, target: str):
            logit = tf.matmul(features, kernel) + bias
            if target == SCORE:
                return tf.sigmoid(logit)
            return tf.where(logit >= 0, logit, -logit)  # the chosen class's logit (threshold 0.5 = logit 0)

        def make_saliency(target: str):
            @tf.function(input_signature=[spec], reduce_retracing=True)
            def saliency(x):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    _, features = parts(x, training=False)
                    # Each output depends only on its own input: the gradient of the sum is every sample's gradient.
                    total = tf.reduce_sum(objective(features, target))
                return tape.gradient(total, x)

            return saliency

        def make_gradcam(target: str):
            @tf.function(input_signature=[spec], reduce_retracing=True)
            def gradcam(x):
                with tf.GradientTape() as tape:
                    activations, features = parts(x, training=False)
                    total = tf.reduce_sum(objective(features, target))
                grads = tape.gradient(total, activations)
                channel_weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
                cam = tf.nn.relu(tf.reduce_sum(activations * channel_weights, axis=-1, keepdims=True))
                return tf.image.resize(cam, INPUT_SHAPE[:2], method="bilinear")[..., 0]

            return gradcam

        self._saliency = {t: make_saliency(t) for t in TARGETS}
        self._gradcam = {t: make_gradcam(t) for t in TARGETS}

    def _batched(self, fn, x: np.ndarray, batch_size: int) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        parts = [fn(x[i : i + batch_size]).numpy() for i in range(0, len(x), batch_size)]
        return np.concatenate(parts, axis=0) if parts else np.zeros((0, *INPUT_SHAPE[:2]), dtype=np.float32)

    def saliency(self, x: np.ndarray, batch_size: int = BATCH_SIZE, target: str = SCORE) -> np.ndarray:
        """(N, 63, 63, 3): d target / d input, per channel (science, template, difference)."""
        return self._batched(self._saliency[target], x, batch_size)

    def gradcam(self, x: np.ndarray, batch_size: int = BATCH_SIZE, target: str = SCORE) -> np.ndarray:
        """(N, 63, 63): Grad-CAM of the target at the last convolutional layer, upsampled to the stamp."""
        return self._batched(self._gradcam[target], x, batch_size)

    def compute(self, kind: str, x: np.ndarray, target: str = VERDICT) -> np.ndarray:
        if kind == Explanation.Kind.SALIENCY:
            return self.saliency(x, target=target)
        if kind == Explanation.Kind.GRADCAM:
            return self.gradcam(x, target=target)
        raise ValueError(f"unknown explanation kind {kind!r}; expected one of {', '.join(KINDS)}")


def explainer_for(model) -> Explainer:
    explainer = getattr(model, "_blink_explainer", None)
    if explainer is None:
        explainer = Explainer(model)
        object.__setattr__(model, "_blink_explainer", explainer)  # dies with the model, outside Keras tracking
    return explainer


def pack(maps: np.ndarray) -> bytes:
    scale = float(np.max(np.abs(maps))) if maps.size else 0.0
    normalised = maps / scale if scale > 0 else maps
    return zlib.compress(normalised.astype("<f2").tobytes(), 6)


def unpack(explanation: Explanation) -> np.ndarray:
    raw = zlib.decompress(bytes(explanation.data))
    return np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(explanation.shape)


def explain_alerts(alert_ids: Sequence[int], version: ModelVersion, kind: str) -> dict[int, np.ndarray]:
    """Explanation maps (normalised to max |value| 1) for these alerts by ``version``, each at its cutout's own
    size (:func:`map_on_stamp`): read from the cache, computing and storing the missing ones in batches."""
    if kind not in KINDS:
        raise ValueError(f"unknown explanation kind {kind!r}; expected one of {', '.join(KINDS)}")
    ids = [int(i) for i in alert_ids]
    cached = {e.alert_id: unpack(e) for e in Explanation.objects.filter(alert_id__in=ids, version=version, kind=kind)}
    missing = [i for i in ids if i not in cached]
    if missing:
        from classifiers.registry import recipe_of

        explainer = explainer_for(explained_model(version))
        recipe = recipe_of(version)
        rows = []
        for start in range(0, len(missing), BATCH_SIZE * 4):
            part = missing[start : start + BATCH_SIZE * 4]
            triplets = load_stamp_batch(part)
            maps = explainer.compute(kind, preprocess(triplets, recipe))
            for alert_id, triplet, full in zip(part, triplets, maps, strict=True):
                amap = map_on_stamp(full, *triplet[0].shape, recipe)
                data = pack(amap)
                rows.append(
                    Explanation(alert_id=alert_id, version=version, kind=kind, data=data, shape=list(amap.shape))
                )
                cached[alert_id] = (
                    np.frombuffer(zlib.decompress(data), dtype="<f2").astype(np.float32).reshape(amap.shape)
                )
        # Another request may have computed the same maps meanwhile: the first stored copy wins.
        Explanation.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)
    return {i: cached[i] for i in ids}


# ------------------------------------------------------------------------------------------------------------
# The overlay picture
# ------------------------------------------------------------------------------------------------------------

PANEL_SCALE = 4
GAP = 6
OVERLAY_OPACITY = 0.7
OVERLAY_FLOOR = 0.35
OVERLAY_QUANTILE = 0.85  # at most the top 15 % of pixels are tinted


def _heat(values: np.ndarray) -> np.ndarray:
    """0..1 importance to an RGB heat colour (black -> red -> yellow)."""
    v = np.clip(values, 0, 1)[..., None]
    return np.concatenate([np.clip(2 * v, 0, 1), np.clip(2 * v - 1, 0, 1), np.zeros_like(v)], axis=-1)


def overlay_png(stamps: Sequence[np.ndarray], maps: np.ndarray, kind: str, *, stretch: str = "linear") -> bytes:
    """PNG of the three stamps (science, reference, difference) with the explanation laid over each: Grad-CAM's one
    map on all three, saliency's per-channel magnitude on its own stamp. Each stamp is drawn at its own size by the
    alert page's own renderer (ZScale, rows flipped as FITS draws them: ZTF's north up, NaN in magenta), and the map, at the same size
    (:func:`map_on_stamp`), is flipped the same way so it sits on the pixels it explains."""
    from PIL import Image

    from labeling.stamps import stamp_rgb

    height, width = stamps[0].shape
    panels = []
    for channel, stamp in enumerate(stamps):
        base = stamp_rgb(np.asarray(stamp, dtype=np.float32), stretch=stretch).astype(np.float32) / 255.0
        importance = (
            np.abs(maps[..., channel]) if (kind == Explanation.Kind.SALIENCY and maps.ndim == 3) else np.abs(maps)
        )
        peak = float(importance.max())
        importance = (importance / peak if peak > 0 else importance)[::-1]
        # Only the upper part of the range is tinted: Grad-CAM maps are broad, and a wash of colour over the whole
        # stamp would hide both the stamp and where the model looked most.
        floor = max(OVERLAY_FLOOR, float(np.quantile(importance, OVERLAY_QUANTILE)))
        alpha = (OVERLAY_OPACITY * np.clip((importance - floor) / max(1 - floor, 1e-6), 0, 1))[..., None]
        rgb = (1 - alpha) * base + alpha * _heat(importance)
        panels.append((np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8))
    side_h, side_w = height * PANEL_SCALE, width * PANEL_SCALE
    canvas = Image.new("RGB", (3 * side_w + 2 * GAP, side_h), (255, 255, 255))
    for i, panel in enumerate(panels):
        image = Image.fromarray(panel, "RGB").resize((side_w, side_h), Image.Resampling.NEAREST)
        canvas.paste(image, (i * (side_w + GAP), 0))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def explanation_png(alert, version: ModelVersion | None, kind: str) -> bytes:
    """The overlay PNG of one alert's explanation (computed and cached on first request) by ``version``, or by the
    active real/bogus version of the alert's survey when None; a version of another survey is refused
    (:func:`explaining_version`)."""
    from classifiers.registry import recipe_of

    version = explaining_version(alert, version)
    maps = explain_alerts([alert.pk], version, kind)[alert.pk]
    stamps = load_stamp_batch([alert.pk])[0]
    # A map cached before maps were kept at the cutout's size is still 63x63: cut it back here.
    maps = map_on_stamp(maps, *stamps[0].shape, recipe_of(version))
    return overlay_png(stamps, maps, kind)
