"""Importing the published braai weights: each file becomes a version with its provenance and its own input
recipe, d6_m7 reproduces the ``drb`` real alerts carry, and a file that is not braai is refused whole."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from classifiers.architectures import BRAAI_VGG6
from classifiers.braai_import import (
    BRAAI_LICENCE,
    LAYER_MAP,
    PUBLISHED_BRAAI,
    ModelFileRefused,
    import_keras2_braai,
    import_published_braai,
)
from classifiers.models import ModelVersion, RegistryEvent, Score
from classifiers.preprocessing import D6_M7_RECIPE, DEFAULT_RECIPE, load_inputs
from classifiers.registry import load_model, recipe_of
from classifiers.scoring import score_alerts, score_inputs


@pytest.fixture
def d6_m7(db, published_braai):
    return import_published_braai("d6_m7", folder=published_braai)


@pytest.mark.parametrize("name", sorted(PUBLISHED_BRAAI))
def test_each_published_file_imports_as_a_candidate_with_its_provenance_and_recipe(db, published_braai, name):
    file, recipe = PUBLISHED_BRAAI[name]
    version = import_published_braai(name, folder=published_braai)
    version.refresh_from_db()
    assert version.status == ModelVersion.Status.CANDIDATE
    assert not ModelVersion.objects.filter(status=ModelVersion.Status.ACTIVE).exists()
    assert version.architecture == BRAAI_VGG6
    assert version.thresholds == {"operating": 0.5}
    assert recipe_of(version) == recipe
    p = version.provenance
    assert p["name"] == name
    assert p["file"] == file
    assert p["sha256"] == hashlib.sha256((published_braai / file).read_bytes()).hexdigest()
    assert p["source"].startswith("github.com/dmitryduev/braai @ 9fb2259")
    assert p["licence"] == BRAAI_LICENCE
    assert "Permission is hereby granted" in p["licence_text"]
    assert version.sha256 == hashlib.sha256(bytes(version.weights)).hexdigest()  # of the .keras bytes, as trained


def test_the_imported_network_holds_the_files_weights_layer_by_layer(d6_m7, published_braai):
    import h5py

    model = load_model(d6_m7)
    with h5py.File(published_braai / PUBLISHED_BRAAI["d6_m7"][0], "r") as handle:
        for layer, blink in LAYER_MAP.items():
            kernel, bias = model.get_layer(blink).get_weights()
            np.testing.assert_array_equal(kernel, handle[f"{layer}/{layer}/kernel:0"][()])
            np.testing.assert_array_equal(bias, handle[f"{layer}/{layer}/bias:0"][()])


@pytest.fixture
def real_avro_alerts(db, real_data):
    from labeling.ingest import ingest_paths
    from labeling.models import Alert

    report = ingest_paths([real_data / "avro"])
    assert report.rejected == 0, report.errors
    return list(Alert.objects.filter(drb__isnull=False).order_by("pk"))


def test_d6_m7_scores_real_packets_within_1e_3_of_their_drb(d6_m7, real_avro_alerts):
    score_alerts(real_avro_alerts, d6_m7)
    scores = dict(Score.objects.filter(version=d6_m7).values_list("alert_id", "score"))
    gap = np.array([abs(scores[a.pk] - a.drb) for a in real_avro_alerts])
    assert len(gap) > 200
    # A handful of packets were scored by braai on stamps that differ from what the packet carries.
    assert np.mean(gap < 1e-3) >= 0.98, f"{np.sum(gap >= 1e-3)} of {len(gap)} alerts off by 1e-3 or more"
    assert np.median(gap) < 1e-5


def test_the_same_weights_fed_the_whole_cutout_recipe_do_not_reproduce_drb(d6_m7, real_avro_alerts):
    ids = [a.pk for a in real_avro_alerts[:60]]
    drb = np.array([a.drb for a in real_avro_alerts[:60]])
    right, _, _ = score_inputs(d6_m7, load_inputs(ids, D6_M7_RECIPE))
    wrong, _, _ = score_inputs(d6_m7, load_inputs(ids, DEFAULT_RECIPE))
    assert np.median(np.abs(right - drb)) < 1e-5
    assert np.median(np.abs(wrong - drb)) > 1e-2


def test_activating_an_import_promotes_it_with_the_audit_reason(db, published_braai):
    version = import_published_braai("d6_m7", folder=published_braai, activate=True, reason="published braai")
    assert version.status == ModelVersion.Status.ACTIVE
    event = RegistryEvent.objects.filter(version=version, action=RegistryEvent.Action.PROMOTE).get()
    assert event.reason == "published braai"


def test_activating_an_import_without_a_reason_is_refused_and_nothing_stored(db, published_braai):
    with pytest.raises(ModelFileRefused, match="reason"):
        import_published_braai("d6_m7", folder=published_braai, activate=True, reason=" ")
    assert not ModelVersion.objects.exists()


# ------------------------------------------------------------------------------------------------------------
# Refusals: a file that is not exactly braai's VGG6 is refused whole, and nothing is stored
# ------------------------------------------------------------------------------------------------------------


def truncated(source, target):
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])


def not_hdf5(source, target):
    target.write_text("this is not an HDF5 file\n")


def tampered_shape(source, target):
    import h5py

    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as handle:
        del handle["conv2/conv2/kernel:0"]
        handle.create_dataset("conv2/conv2/kernel:0", data=np.zeros((3, 3, 16, 8), dtype=np.float32))


def missing_layer(source, target):
    import h5py

    shutil.copyfile(source, target)
    with h5py.File(target, "r+") as handle:
        del handle["fc_1"]


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (truncated, r"spoiled\.h5: not a readable HDF5 weights file \(.*truncated"),
        (not_hdf5, r"spoiled\.h5: not a readable HDF5 weights file"),
        (
            tampered_shape,
            r"layer conv2 \(conv2\) kernel: expected shape \(3, 3, 16, 16\), the file has \(3, 3, 16, 8\)",
        ),
        (missing_layer, r"layer fc_1 \(dense1\) has no kernel: expected shape \(1152, 256\), the file has none"),
    ],
    ids=["truncated", "not-hdf5", "tampered-shape", "missing-layer"],
)
def test_a_spoiled_file_is_refused_naming_why_and_nothing_is_stored(db, published_braai, tmp_path, spoil, message):
    spoiled = tmp_path / "spoiled.h5"
    spoil(published_braai / PUBLISHED_BRAAI["d6_m7"][0], spoiled)
    with pytest.raises(ModelFileRefused, match=message):
        import_keras2_braai(spoiled, name="d6_m7", recipe=D6_M7_RECIPE, source="test", licence="MIT")
    assert not ModelVersion.objects.exists()
    assert not RegistryEvent.objects.exists()


def test_the_command_imports_with_the_licence_beside_the_file(db, published_braai, capsys):
    call_command("import_model", str(published_braai / "d6_m7.weights.h5"), "--name", "d6_m7", "--recipe", "row")
    version = ModelVersion.objects.get()
    assert recipe_of(version) == D6_M7_RECIPE
    assert version.provenance["licence"] == BRAAI_LICENCE
    assert "registered real_bogus v1 (candidate): d6_m7" in capsys.readouterr().out


def test_the_command_refuses_a_spoiled_file_and_registers_nothing(db, published_braai, tmp_path):
    spoiled = tmp_path / "spoiled.h5"
    truncated(published_braai / "d6_m7.weights.h5", spoiled)
    with pytest.raises(CommandError, match="refused, nothing registered: spoiled.h5"):
        call_command("import_model", str(spoiled), "--name", "d6_m7", "--recipe", "row")
    assert not ModelVersion.objects.exists()


def test_the_console_and_the_api_show_an_imported_versions_provenance(d6_m7, mllead, client_for, api_for):
    page = client_for(mllead).get(reverse("console-versions"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "imported <strong>d6_m7</strong>" in text
    assert BRAAI_LICENCE in text
    assert d6_m7.provenance["sha256"][:12] in text
    assert "input: row L2 norm, pad 1e-09" in text
    (row,) = api_for(mllead).get(reverse("api-model-versions")).json()
    assert row["provenance"]["name"] == "d6_m7"
    assert row["input_recipe"] == {"normalisation": "row", "pad_value": 1e-9, "fit": "edge"}
