"""The registry: numbered versions, audited promote and roll back, exactly one active version, safe loading."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from django.db import connection

from classifiers import registry
from classifiers.models import ModelVersion, RegistryEvent
from tests.conftest import register_untrained_braai


def statuses(task: str = "real_bogus") -> dict[int, str]:
    return dict(ModelVersion.objects.filter(task=task).values_list("version", "status"))


@pytest.mark.django_db
def test_versions_are_numbered_per_task_and_registered_as_candidates():
    v1 = register_untrained_braai(seed=1)
    v2 = register_untrained_braai(seed=2)
    streak = register_untrained_braai(seed=3, task="streaks")
    assert (v1.version, v2.version, streak.version) == (1, 2, 1)
    assert statuses() == {1: "candidate", 2: "candidate"}
    assert v1.sha256 == registry.sha256_of(bytes(ModelVersion.objects.get(pk=v1.pk).weights))
    assert v1.size_bytes > 1_000_000  # the whole .keras file, weights included
    assert RegistryEvent.objects.filter(action="register").count() == 3


@pytest.mark.django_db
def test_promote_retires_the_previous_active_version_and_audits_who_and_why(mllead):
    v1 = register_untrained_braai(seed=1)
    v2 = register_untrained_braai(seed=2)
    registry.promote(v1, actor=mllead, reason="first model")
    registry.promote(v2, actor=mllead, reason="better on faint candidates")
    assert statuses() == {1: "retired", 2: "active"}
    event = RegistryEvent.objects.filter(action="promote").first()
    assert (event.version_id, event.previous_active_id, event.actor, event.reason) == (
        v2.pk,
        v1.pk,
        mllead,
        "better on faint candidates",
    )
    assert registry.active_version("real_bogus") == v2


@pytest.mark.django_db
def test_promote_needs_a_reason_and_refuses_the_active_version(mllead):
    v1 = register_untrained_braai(seed=1)
    with pytest.raises(registry.RegistryError, match="a reason is required"):
        registry.promote(v1, actor=mllead, reason="  ")
    registry.promote(v1, actor=mllead, reason="first")
    with pytest.raises(registry.RegistryError, match="already active"):
        registry.promote(v1, actor=mllead, reason="again")
    assert RegistryEvent.objects.filter(action="promote").count() == 1


@pytest.mark.django_db
def test_rollback_walks_back_through_promotions(mllead):
    v1, v2, v3 = (register_untrained_braai(seed=s) for s in (1, 2, 3))
    for v in (v1, v2, v3):
        registry.promote(v, actor=mllead, reason=f"v{v.version}")
    assert registry.rollback("real_bogus", actor=mllead, reason="v3 misses faint SNe").version == 2
    assert statuses() == {1: "retired", 2: "active", 3: "retired"}
    assert registry.rollback("real_bogus", actor=mllead, reason="v2 too").version == 1
    with pytest.raises(registry.RegistryError, match="no earlier active version"):
        registry.rollback("real_bogus", actor=mllead, reason="and again")
    rollbacks = RegistryEvent.objects.filter(action="rollback").order_by("id")
    assert [(e.version.version, e.previous_active.version, e.reason) for e in rollbacks] == [
        (2, 3, "v3 misses faint SNe"),
        (1, 2, "v2 too"),
    ]


@pytest.mark.django_db
def test_rollback_without_an_active_version_is_refused(mllead):
    register_untrained_braai(seed=1)
    with pytest.raises(registry.RegistryError, match="no active real_bogus version"):
        registry.rollback("real_bogus", actor=mllead, reason="nothing there")


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotions_and_rollbacks_keep_exactly_one_active_version(django_user_model):
    """Eight threads promote and roll back at once, each in its own transaction and database connection."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks and advisory locks are PostgreSQL's; this test needs DATABASE_URL=postgres://...")
    versions = [register_untrained_braai(seed=s) for s in range(4)]
    registry.promote(versions[0], actor=None, reason="start")
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    seen_active_counts: list[int] = []

    def worker(i: int) -> None:
        try:
            barrier.wait()
            for round_ in range(3):
                try:
                    if (i + round_) % 3 == 0:
                        registry.rollback("real_bogus", actor=None, reason=f"thread {i} round {round_}")
                    else:
                        target = ModelVersion.objects.defer("weights").get(pk=versions[(i + round_) % 4].pk)
                        registry.promote(target, actor=None, reason=f"thread {i} round {round_}")
                except registry.RegistryError:
                    pass  # already active / nothing to roll back to: a refused request, not a broken registry
                seen_active_counts.append(ModelVersion.objects.filter(task="real_bogus", status="active").count())
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert seen_active_counts
    assert set(seen_active_counts) == {1}
    assert ModelVersion.objects.filter(task="real_bogus", status="active").count() == 1
    # Every change is in the audit log, and the log replays to the final state.
    changes = RegistryEvent.objects.filter(action__in=["promote", "rollback"]).order_by("id")
    assert changes.count() >= 2
    assert changes.last().version_id == registry.active_version("real_bogus").pk


@pytest.mark.django_db
def test_load_model_caches_on_disk_by_sha256_and_in_memory(settings):
    version = register_untrained_braai(seed=5)
    model = registry.load_model(version)
    path = registry.cache_path(version)
    assert path.name == f"{version.sha256}.keras"
    assert path.parent == settings.BLINK["MODEL_CACHE_DIR"]
    assert registry.sha256_of(path.read_bytes()) == version.sha256
    assert registry.load_model(version) is model  # the in-process LRU
    x = np.random.default_rng(0).normal(size=(2, 63, 63, 3)).astype("float32")
    from classifiers.inference import predict

    expected = predict(model, x)
    # A damaged cache file is noticed (sha256) and replaced by the database copy.
    registry.clear_loaded_models()
    path.write_bytes(b"not a keras file")
    reloaded = registry.load_model(version)
    np.testing.assert_allclose(predict(reloaded, x), expected, rtol=1e-6)
    assert registry.sha256_of(path.read_bytes()) == version.sha256


@pytest.mark.django_db
def test_load_model_refuses_weights_that_do_not_match_their_sha256():
    version = register_untrained_braai(seed=5)
    ModelVersion.objects.filter(pk=version.pk).update(weights=b"tampered")
    with pytest.raises(registry.CorruptModel, match="do not match sha256"):
        registry.load_model(version)
