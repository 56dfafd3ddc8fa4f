"""braai's VGG6 exactly as published (Duev et al. 2019), layer by layer."""

from __future__ import annotations

from classifiers.architectures import (
    BraaiHyperparameters,
    StreakHyperparameters,
    braai_vgg6,
    last_conv_layer_name,
    streak_member,
)

# (name, Keras class, output shape without the batch axis, parameters), worked out by hand:
# 'valid' 3x3 convolutions take 2 pixels off each side; conv params = 3*3*in*out + out.
VGG6_LAYERS = [
    ("triplet", "InputLayer", (63, 63, 3), 0),
    ("conv1", "Conv2D", (61, 61, 16), 3 * 3 * 3 * 16 + 16),
    ("conv2", "Conv2D", (59, 59, 16), 3 * 3 * 16 * 16 + 16),
    ("pool1", "MaxPooling2D", (29, 29, 16), 0),
    ("dropout1", "Dropout", (29, 29, 16), 0),
    ("conv3", "Conv2D", (27, 27, 32), 3 * 3 * 16 * 32 + 32),
    ("conv4", "Conv2D", (25, 25, 32), 3 * 3 * 32 * 32 + 32),
    ("pool2", "MaxPooling2D", (6, 6, 32), 0),
    ("dropout2", "Dropout", (6, 6, 32), 0),
    ("flatten", "Flatten", (1152,), 0),
    ("dense1", "Dense", (256,), 1152 * 256 + 256),
    ("dropout3", "Dropout", (256,), 0),
    ("score", "Dense", (1,), 256 + 1),
]


def test_vgg6_has_braais_exact_layers_and_parameter_count():
    model = braai_vgg6()
    got = [
        (layer.name, layer.__class__.__name__, tuple(layer.output.shape[1:]), layer.count_params())
        for layer in model.layers
    ]
    assert got == VGG6_LAYERS
    assert model.count_params() == 312_081 == sum(p for *_, p in VGG6_LAYERS)


def test_vgg6_activations_and_dropout_rates_are_braais():
    model = braai_vgg6()
    activations = {layer.name: layer.activation.__name__ for layer in model.layers if hasattr(layer, "activation")}
    assert activations == {
        "conv1": "relu",
        "conv2": "relu",
        "conv3": "relu",
        "conv4": "relu",
        "dense1": "relu",
        "score": "sigmoid",
    }
    rates = [model.get_layer(n).rate for n in ("dropout1", "dropout2", "dropout3")]
    assert rates == [0.25, 0.25, 0.5]
    assert [model.get_layer(n).pool_size for n in ("pool1", "pool2")] == [(2, 2), (4, 4)]
    assert last_conv_layer_name(model) == "conv4"


def test_streak_member_is_a_small_named_cnn():
    member = streak_member(name="rb-1")
    names = [layer.name for layer in member.layers]
    assert names[:2] == ["triplet", "conv1"]
    assert names[-1] == "score"
    assert "dense1" in names
    assert last_conv_layer_name(member) == "conv3"
    assert member.count_params() < braai_vgg6().count_params()


def test_hyperparameters_round_trip_through_json_and_refuse_unknown_keys():
    import json

    import pytest

    hp = BraaiHyperparameters(epochs=7, seed=5)
    assert BraaiHyperparameters.from_dict(json.loads(json.dumps(hp.to_dict()))) == hp
    streaks = StreakHyperparameters(members_per_group=3)
    assert StreakHyperparameters.from_dict(json.loads(json.dumps(streaks.to_dict()))) == streaks
    with pytest.raises(ValueError, match="unknown hyper-parameter"):
        BraaiHyperparameters.from_dict({"epochs": 3, "momentum": 0.9})
