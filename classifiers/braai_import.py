"""Import a published Keras 2 braai weights file (``dmitryduev/braai``'s ``models/*.h5``) as a model version.

Keras 3 cannot rebuild the legacy ``Sequential`` configs those files come with, so Blink builds its own
``braai_vgg6`` and copies the weights layer by layer. Every layer's kernel and bias shape is checked before a
single weight is set: a file that differs anywhere is refused as a whole, and nothing is registered.

The input recipe is the caller's to give (``D6_M7_RECIPE`` for d6_m7 and earlier, ``D6_M9_RECIPE`` for d6_m9):
the weights file does not record it, and the same weights fed another recipe are another classifier.

Imported into the Rubin task, the same weights become a Rubin version with the published recipe and the
``"centre"`` fit (a Rubin stamp is centre-cropped or padded to 63x63): braai without any fine-tuning on Rubin
stamps, the baseline a Rubin fine-tune starts from and is compared with.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction

from classifiers.architectures import BRAAI_VGG6, BraaiHyperparameters, braai_vgg6
from classifiers.models import BRAAI_TASKS, ModelVersion, Task, task_survey
from classifiers.preprocessing import D6_M7_RECIPE, D6_M9_RECIPE, InputRecipe
from classifiers.reference_sets import evaluate_version
from classifiers.registry import keras_bytes, promote, register
from core.errors import ServiceError

# The published file's layer name -> Blink's braai_vgg6 layer name.
LAYER_MAP = {
    "conv1": "conv1",
    "conv2": "conv2",
    "conv3": "conv3",
    "conv4": "conv4",
    "fc_1": "dense1",
    "fc_out": "score",
}
OPERATING_THRESHOLD = 0.5

# The two published versions, as the README beside the files describes them (commit of dmitryduev/braai).
BRAAI_LICENCE = "MIT, (c) 2019 Dmitry Duev"
BRAAI_SOURCE = "github.com/dmitryduev/braai @ 9fb2259542ec4b0a7dfa485012a23dc15a3f4ce8 (models/)"
PUBLISHED_BRAAI = {
    "d6_m7": ("d6_m7.weights.h5", D6_M7_RECIPE),
    "d6_m9": ("braai_d6_m9.weights.h5", D6_M9_RECIPE),
}


class ModelFileRefused(ServiceError):
    """A weights file that cannot become a version: not HDF5, truncated, or a layer missing or of another shape."""

    code = "model_file_refused"


@dataclass(frozen=True)
class ReadWeights:
    arrays: dict[str, tuple[np.ndarray, np.ndarray]]  # Blink layer name -> (kernel, bias)
    sha256: str


def _expected_shapes(model) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    shapes = {}
    for blink_name in LAYER_MAP.values():
        layer = model.get_layer(blink_name)
        shapes[blink_name] = (tuple(layer.kernel.shape), tuple(layer.bias.shape))
    return shapes


def _read_layer(handle, file_name: str, layer: str, blink_name: str, expected) -> tuple[np.ndarray, np.ndarray]:
    arrays = []
    for part, shape in zip(("kernel", "bias"), expected, strict=True):
        key = f"{layer}/{layer}/{part}:0"  # Keras 2's HDF5 layout: one group per layer, named twice
        if key not in handle:
            raise ModelFileRefused(
                f"{file_name}: layer {layer} ({blink_name}) has no {part}: expected shape {shape}, the file has none",
                field="file",
            )
        found = tuple(handle[key].shape)
        if found != shape:
            raise ModelFileRefused(
                f"{file_name}: layer {layer} ({blink_name}) {part}: expected shape {shape}, the file has {found}",
                field="file",
            )
        arrays.append(np.asarray(handle[key][()], dtype=np.float32))
    if not all(np.isfinite(a).all() for a in arrays):
        raise ModelFileRefused(f"{file_name}: layer {layer} ({blink_name}) holds NaN or infinite weights", field="file")
    return arrays[0], arrays[1]


def read_keras2_weights(path: Path, model) -> ReadWeights:
    """Every mapped layer's (kernel, bias) from the file, shapes checked against ``model``; refused otherwise."""
    import h5py

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelFileRefused(f"{path.name}: cannot be read ({error.strerror or error})", field="file") from error
    expected = _expected_shapes(model)
    try:
        with h5py.File(path, "r") as handle:
            arrays = {
                blink: _read_layer(handle, path.name, layer, blink, expected[blink])
                for layer, blink in LAYER_MAP.items()
            }
    except ModelFileRefused:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        # h5py says "file signature not found" for a file that is not HDF5 and "truncated file" for a cut one.
        raise ModelFileRefused(f"{path.name}: not a readable HDF5 weights file ({error})", field="file") from error
    return ReadWeights(arrays=arrays, sha256=hashlib.sha256(data).hexdigest())


def load_keras2_braai(path: Path | str, hyperparameters: BraaiHyperparameters | None = None) -> tuple[object, str]:
    """``(model, sha256)``: Blink's ``braai_vgg6`` holding a published file's weights, checked as an import checks
    them but registered nowhere, for the array-level tools (benches, the simulation) that need no database."""
    model = braai_vgg6(hyperparameters or BraaiHyperparameters())
    weights = read_keras2_weights(Path(path), model)
    for blink_name, (kernel, bias) in weights.arrays.items():
        model.get_layer(blink_name).set_weights([kernel, bias])
    return model, weights.sha256


def load_published_braai(name: str, folder: Path | str) -> tuple[object, InputRecipe]:
    """``(model, recipe)`` of a published version (``d6_m7`` or ``d6_m9``) in ``folder``, unregistered."""
    file, recipe = PUBLISHED_BRAAI[name]
    model, _ = load_keras2_braai(Path(folder) / file, BraaiHyperparameters(input_recipe=recipe.to_dict()))
    return model, recipe


def licence_summary(text: str) -> str:
    """A LICENSE file's title and copyright line, e.g. "MIT, (c) 2019 Dmitry Duev"."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    title = lines[0].removesuffix(" License").removesuffix(" LICENSE")
    copyright_line = next((line for line in lines if line.lower().startswith("copyright")), "")
    holder = copyright_line[len("copyright") :].strip()
    return f"{title}, {holder}" if holder else title


def import_keras2_braai(
    path: Path | str,
    *,
    task: str = Task.REAL_BOGUS,
    name: str,
    recipe: InputRecipe,
    source: str,
    licence: str,
    licence_text: str = "",
    actor=None,
    activate: bool = False,
    reason: str = "",
) -> ModelVersion:
    """Register a published braai weights file as the task's next version (a candidate; active only when
    ``activate`` is asked, with ``reason`` in the audit log), then evaluate it on the reference sets.

    Refuses with :class:`ModelFileRefused`, storing nothing, when the file is not a complete Keras 2 HDF5 braai
    with the expected layer shapes."""
    if task not in BRAAI_TASKS:
        raise ModelFileRefused(
            f"a braai weights file is a real/bogus model ({', '.join(sorted(BRAAI_TASKS))}), not {task}", field="task"
        )
    if task_survey(task) == "rubin":
        recipe = replace(recipe, fit="centre")  # the only fit that takes every Rubin stamp size
    name = (name or "").strip()
    if not name:
        raise ModelFileRefused("a name is required (e.g. d6_m7)", field="name")
    if activate and not (reason or "").strip():
        raise ModelFileRefused("activating an imported version needs a reason for the audit log", field="reason")
    path = Path(path)
    hyperparameters = BraaiHyperparameters(operating_threshold=OPERATING_THRESHOLD, input_recipe=recipe.to_dict())
    model, sha256 = load_keras2_braai(path, hyperparameters)
    provenance = {
        "name": name,
        "source": source,
        "file": path.name,
        "sha256": sha256,
        "licence": licence,
    }
    if licence_text:
        provenance["licence_text"] = licence_text
    description = f"{name}: trained outside Blink ({source})"
    if task_survey(task) == "rubin":
        description += " on ZTF stamps; not fine-tuned on Rubin stamps"
    with transaction.atomic():  # registered and activated together, or neither
        version = register(
            task=task,
            architecture=BRAAI_VGG6,
            model_bytes=keras_bytes(model),
            hyperparameters=hyperparameters.to_dict(),
            training_set={"imported": True, "n_labels": 0, "description": description},
            metrics={},
            thresholds={"operating": OPERATING_THRESHOLD},
            created_by=actor,
            notes=f"imported {name} from {path.name} ({source}); input recipe: {recipe.describe()}",
            provenance=provenance,
        )
        if activate:
            version = promote(version, actor=actor, reason=reason)
    # Scored on the reference sets once stored, as each trained version is, so every page shows its figures.
    evaluate_version(version)
    return version


def published_braai_dir() -> Path | None:
    """``../shared/models/braai`` beside the shared data, when it holds the published files."""
    folder = Path(settings.SHARED_DATA_DIR).parent / "models" / "braai"
    return folder if all((folder / file).exists() for file, _ in PUBLISHED_BRAAI.values()) else None


def import_published_braai(
    name: str,
    *,
    folder: Path,
    task: str = Task.REAL_BOGUS,
    actor=None,
    activate: bool = False,
    reason: str = "",
) -> ModelVersion:
    """Import one of the published versions (``d6_m7`` or ``d6_m9``) from ``folder`` as a version of ``task``
    with its own recipe (and, for the Rubin task, the ``"centre"`` fit), its source and the licence kept beside
    it."""
    file, recipe = PUBLISHED_BRAAI[name]
    licence_file = Path(folder) / "LICENSE"
    licence_text = licence_file.read_text() if licence_file.exists() else ""
    return import_keras2_braai(
        Path(folder) / file,
        task=task,
        name=name,
        recipe=recipe,
        source=BRAAI_SOURCE,
        licence=licence_summary(licence_text) if licence_text else BRAAI_LICENCE,
        licence_text=licence_text,
        actor=actor,
        activate=activate,
        reason=reason,
    )
