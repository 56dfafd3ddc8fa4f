"""export_all / import_all: a backup restored into an empty database gives back everything, equal."""

from __future__ import annotations

import gzip
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from core.roles import user_roles
from labeling.backups import backed_up_models, table_fingerprints
from labeling.models import Alert, Subject, Vote
from tests.security.builders import build_world


@pytest.fixture
def world(live_campaign, scientist, volunteer, other_volunteer, mllead, demo_alerts):
    return build_world(alerts=demo_alerts, scientist=scientist, volunteers=[volunteer, other_volunteer], mllead=mllead)


def _empty_the_database():
    from django.db import connection

    if connection.in_atomic_block:
        # Inside the test's transaction, TRUNCATE needs the pending deferred FK checks run first.
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    call_command("flush", "--noinput", verbosity=0)
    assert all(not m._base_manager.exists() for m in backed_up_models())


def _backup_lines(tmp_path) -> list[str]:
    """The lines of a fresh backup of the whole database."""
    out = tmp_path / "b.jsonl.gz"
    call_command("export_all", "--out", str(out), "--no-progress", verbosity=0)
    with gzip.open(out, "rt") as fh:
        return fh.readlines()


def _assert_restore_refused(path, match: str) -> None:
    with pytest.raises(CommandError, match=match):
        call_command("import_all", str(path), "--no-progress", verbosity=0)


def _write_backup(path, lines):
    with gzip.open(path, "wt") as fh:
        fh.writelines(lines)
    return path


@pytest.mark.django_db(transaction=True)
def test_a_backup_restored_into_an_empty_database_is_equal_table_by_table(world, tmp_path):
    before = table_fingerprints()
    # Every kind of row is really there, so equality below means something.
    for label in (
        "labeling.alert",
        "labeling.stamps",
        "labeling.lightcurvepoint",
        "labeling.vote",
        "labeling.tutorialstep",
        "labeling.fieldguideentry",
        "classifiers.modelversion",
        "classifiers.registryevent",
        "classifiers.score",
        "labeling.comment",
    ):
        assert before[label][0] > 0, label

    out = tmp_path / "blink.jsonl.gz"
    call_command("export_all", "--out", str(out), "--no-progress", verbosity=0)
    _empty_the_database()
    call_command("import_all", str(out), "--no-progress", verbosity=0)

    after = table_fingerprints()
    assert after == before
    # The fingerprint does see a one-character difference (so the equality above is not vacuous).
    Subject.objects.filter(pk=Subject.objects.order_by("pk").first().pk).update(gold_note="x")
    assert table_fingerprints()["labeling.subject"] != before["labeling.subject"]


@pytest.mark.django_db
def test_restored_rows_keep_what_people_rely_on(world, tmp_path, volunteer, scientist):
    v1, v2 = world["versions"]
    vote = Vote.objects.order_by("pk").first()
    stamp_before = Alert.objects.get(pk=vote.subject.alert_id).stamps.unpack("difference").copy()
    gold = Subject.objects.get(gold_answer="real")
    out = tmp_path / "b.jsonl.gz"
    call_command("export_all", "--out", str(out), "--no-progress", verbosity=0)
    _empty_the_database()
    call_command("import_all", str(out), "--no-progress", verbosity=0)

    from classifiers.models import ModelVersion

    restored = Vote.objects.get(pk=vote.pk)
    assert restored.created_at == vote.created_at  # to the microsecond, not re-stamped on insert
    assert restored.idempotency_key == vote.idempotency_key
    assert (Alert.objects.get(pk=vote.subject.alert_id).stamps.unpack("difference") == stamp_before).all()
    assert Subject.objects.get(pk=gold.pk).gold_note == "textbook SN"
    active = ModelVersion.objects.get(status="active")
    assert active.pk == v2.pk
    assert bytes(active.weights) == bytes(v2.weights)
    assert active.parent_id == v1.pk
    # Accounts and roles come back; password hashes were not in the file, so the password is unusable.
    User = get_user_model()
    sam = User.objects.get(username=scientist.username)
    assert "scientist" in user_roles(sam)
    assert not User.objects.get(username=volunteer.username).has_usable_password()
    # Sequences continue after the restored ids: new rows do not collide.
    extra = Subject.objects.filter(retired=False).exclude(votes__volunteer=sam).first()
    from labeling.votes import vote_record

    outcome = vote_record(
        campaign=extra.campaign,
        subject_id=extra.pk,
        volunteer=sam,
        answer="real",
        idempotency_key="6a1f0c3e-1111-4c3a-8d64-0d3c9b1f2a77",
    )
    assert outcome.vote.pk > Vote.objects.exclude(pk=outcome.vote.pk).order_by("-pk").first().pk


@pytest.mark.django_db
def test_password_hashes_are_kept_only_when_asked(world, tmp_path, volunteer):
    from tests.conftest import PASSWORD

    plain = tmp_path / "plain.jsonl.gz"
    call_command("export_all", "--out", str(plain), "--no-progress", verbosity=0)
    with gzip.open(plain, "rt") as fh:
        assert '"password"' not in fh.read()
    full = tmp_path / "full.jsonl.gz"
    call_command("export_all", "--out", str(full), "--with-password-hashes", "--no-progress", verbosity=0)
    _empty_the_database()
    call_command("import_all", str(full), "--no-progress", verbosity=0)
    assert get_user_model().objects.get(username=volunteer.username).check_password(PASSWORD)


@pytest.mark.django_db
def test_it_refuses_a_database_that_already_holds_data_unless_forced(world, tmp_path):
    out = tmp_path / "b.jsonl.gz"
    call_command("export_all", "--out", str(out), "--no-progress", verbosity=0)
    before = table_fingerprints()
    _assert_restore_refused(out, "already holds Blink data")
    assert table_fingerprints() == before

    # --force replaces: rows added after the backup are gone, the backup's rows are back.
    Vote.objects.filter(pk=Vote.objects.order_by("pk").first().pk).delete()
    call_command("import_all", str(out), "--force", "--no-progress", verbosity=0)
    assert table_fingerprints() == before


@pytest.mark.django_db
def test_a_truncated_backup_restores_nothing(world, tmp_path):
    lines = _backup_lines(tmp_path)
    cut = _write_backup(tmp_path / "cut.jsonl.gz", lines[: len(lines) * 2 // 3])
    _empty_the_database()
    _assert_restore_refused(cut, "truncated")
    assert all(not m._base_manager.exists() for m in backed_up_models() if m._meta.label != "auth.Group")


@pytest.mark.django_db
def test_damaged_model_weights_are_caught_and_nothing_is_restored(world, tmp_path):
    def damaged(line: str) -> str:
        record = json.loads(line)
        if record.get("model") != "classifiers.modelversion":
            return line
        record["fields"]["sha256"] = "0" * 64
        return json.dumps(record) + "\n"

    bad = _write_backup(tmp_path / "bad.jsonl.gz", [damaged(line) for line in _backup_lines(tmp_path)])
    _empty_the_database()
    _assert_restore_refused(bad, "sha256")
    assert not Alert.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not gzip at all", "not a readable gzip backup"),
        (gzip.compress(b'{"format": "something-else"}\n'), "not a Blink backup header"),
        (gzip.compress(b'{"format": "blink-backup", "version": 99}\n'), "format version"),
        (gzip.compress(b""), "empty file"),
    ],
    ids=["not-gzip", "foreign-header", "future-version", "empty"],
)
def test_files_that_are_not_backups_get_a_clear_error(tmp_path, content, message):
    path = tmp_path / "x.jsonl.gz"
    path.write_bytes(content)
    _assert_restore_refused(path, message)


@pytest.mark.django_db
def test_a_failed_export_leaves_no_file_under_the_target_name(tmp_path, monkeypatch):
    from labeling.backups import export

    def boom(*args, **kwargs):
        raise OSError("disk full")
        yield  # pragma: no cover

    monkeypatch.setattr(export, "_serialized_rows", boom)
    out = tmp_path / "b.jsonl.gz"
    with pytest.raises(CommandError, match="disk full"):
        call_command("export_all", "--out", str(out), "--no-progress", verbosity=0)
    assert list(tmp_path.iterdir()) == []
