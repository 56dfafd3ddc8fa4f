"""Keras architectures, each a function of its hyper-parameter dataclass returning a functional-API model.

Layers carry fixed names (``conv1`` ... ``dense1``, ``score``) so explanations, embeddings and tests find them
by name. The hyper-parameter dataclasses are stored with every registered version (``ModelVersion.hyperparameters``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Self

from classifiers.preprocessing import DEFAULT_RECIPE, INPUT_SHAPE
from classifiers.runtime import keras

BRAAI_VGG6 = "braai_vgg6"
STREAK_MEMBER = "streak_cnn"
STREAK_ENSEMBLE = "deepstreaks_ensemble"


class Hyperparameters:
    """What every architecture's hyper-parameters do: become the JSON stored with a version (tuples as lists) and
    come back from it, refusing a name the dataclass does not know."""

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> Self:
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown hyper-parameter(s) {', '.join(unknown)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


@dataclass
class BraaiHyperparameters(Hyperparameters):
    """braai's VGG6 (Duev et al. 2019) and how Blink trains it."""

    architecture: str = BRAAI_VGG6
    conv_filters: tuple[int, int] = (16, 32)
    dense_units: int = 256
    dropout_conv: float = 0.25
    dropout_dense: float = 0.5
    learning_rate: float = 3e-4
    batch_size: int = 64
    epochs: int = 30
    patience: int = 5
    validation_fraction: float = 0.15
    test_fraction: float = 0.15
    augment: bool = True
    class_weights: bool = True
    operating_threshold: float = 0.5
    seed: int = 42
    # How stamps become this model's input (an InputRecipe as a dict): read back with registry.recipe_of.
    input_recipe: dict = field(default_factory=DEFAULT_RECIPE.to_dict)


@dataclass
class StreakHyperparameters(Hyperparameters):
    """A DeepStreaks-style ensemble: three groups (rb, sl, kd) of small CNNs, ``members_per_group`` each."""

    architecture: str = STREAK_ENSEMBLE
    member_architecture: str = STREAK_MEMBER
    members_per_group: int = 2
    conv_filters: tuple[int, int, int] = (16, 32, 32)
    dense_units: int = 64
    dropout: float = 0.3
    learning_rate: float = 1e-3
    batch_size: int = 64
    epochs: int = 20
    patience: int = 4
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    augment: bool = True
    class_weights: bool = True
    seed: int = 42
    # Group thresholds are chosen on validation data to maximise balanced accuracy, kept inside these bounds so
    # that a tiny validation set cannot push a group to always-yes or always-no.
    threshold_bounds: tuple[float, float] = (0.05, 0.95)
    groups: tuple[str, ...] = field(default=("rb", "sl", "kd"))


def braai_vgg6(hp: BraaiHyperparameters | None = None):
    """braai's VGG6: Conv16 3x3 ReLU x2, MaxPool 2, Dropout .25, Conv32 3x3 ReLU x2, MaxPool 4, Dropout .25,
    Flatten, Dense 256 ReLU, Dropout .5, Dense 1 sigmoid. 'valid' convolutions, as the published model."""
    hp = hp or BraaiHyperparameters()
    k = keras()
    layers = k.layers
    small, large = hp.conv_filters
    inputs = k.Input(shape=INPUT_SHAPE, name="triplet")
    x = layers.Conv2D(small, 3, activation="relu", name="conv1")(inputs)
    x = layers.Conv2D(small, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(hp.dropout_conv, name="dropout1")(x)
    x = layers.Conv2D(large, 3, activation="relu", name="conv3")(x)
    x = layers.Conv2D(large, 3, activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(4, name="pool2")(x)
    x = layers.Dropout(hp.dropout_conv, name="dropout2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hp.dense_units, activation="relu", name="dense1")(x)
    x = layers.Dropout(hp.dropout_dense, name="dropout3")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="score")(x)
    return k.Model(inputs, outputs, name=BRAAI_VGG6)


def streak_member(hp: StreakHyperparameters | None = None, name: str = STREAK_MEMBER):
    """A small CNN for one DeepStreaks group member: three 3x3 conv blocks with pooling, one dense layer.

    DeepStreaks' members were large ImageNet networks on 144x144 streak cut-outs; on 63x63 alert stamps and a
    CPU budget a compact member keeps the three groups cheap while the ensemble logic stays the published one.
    """
    hp = hp or StreakHyperparameters()
    k = keras()
    layers = k.layers
    f1, f2, f3 = hp.conv_filters
    inputs = k.Input(shape=INPUT_SHAPE, name="triplet")
    x = layers.Conv2D(f1, 3, activation="relu", padding="same", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(f2, 3, activation="relu", padding="same", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(f3, 3, activation="relu", padding="same", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool3")(x)
    # Flatten, not global pooling: short vs long streaks differ in extent, which global pooling would discard.
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(hp.dense_units, activation="relu", name="dense1")(x)
    x = layers.Dropout(hp.dropout, name="dropout1")(x)
    outputs = layers.Dense(1, activation="sigmoid", name="score")(x)
    return k.Model(inputs, outputs, name=name)


def last_conv_layer_name(model) -> str:
    """The last convolutional layer, where Grad-CAM looks (``conv4`` for VGG6, ``conv3`` for a streak member)."""
    conv_layers = [layer.name for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    if not conv_layers:
        raise ValueError(f"model {model.name!r} has no convolutional layer")
    return conv_layers[-1]
