"""Campaign exports: Zooniverse classification and workflow CSVs, consensus labels, training sets.

Every export is a generator of text chunks (or, for the .npz, written chunk by chunk), reading votes with
``iterator()`` so a campaign of a million votes never sits in memory. The Zooniverse layout is the one
Zooniverse's own ``panoptes_aggregation config / extract / reduce`` reads: the campaign is one workflow with a
single-choice question task ``T0`` whose answers are the campaign's classes and "Skip" (the Zooniverse
real/bogus campaign offered Skip as an answer too; Blink's consensus ignores it).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
from django.db.models import Count, Q

from labeling.models import SKIP, Campaign, Subject, Vote

CHUNK = 2000
WORKFLOW_MAJOR_VERSION = 1
# Zooniverse bumps the minor version on text edits; Blink keeps one version per campaign.
WORKFLOW_MINOR_VERSION = 1
TASK = "T0"
KINDS = ("zooniverse", "workflow", "consensus-csv", "consensus-json", "npz")
METHODS = ("majority", "dawid_skene")

CLASSIFICATION_COLUMNS = [
    "classification_id",
    "user_name",
    "user_id",
    "user_ip",
    "workflow_id",
    "workflow_name",
    "workflow_version",
    "created_at",
    "gold_standard",
    "expert",
    "metadata",
    "annotations",
    "subject_data",
    "subject_ids",
]
WORKFLOW_COLUMNS = [
    "workflow_id",
    "display_name",
    "version",
    "active",
    "classifications_count",
    "pairwise",
    "grouped",
    "prioritized",
    "primary_language",
    "first_task",
    "tutorial_subject_id",
    "retired_set_member_subjects_count",
    "tasks",
    "retirement",
    "aggregation",
    "strings",
    "minor_version",
]
CONSENSUS_COLUMNS = ["candid", "objectId", "label", "confidence", "n_votes", "method"]


class ExportError(ValueError):
    pass


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a streaming response."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(header: list[str], rows: Iterator[list[Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow(row)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def workflow_version(campaign: Campaign) -> str:
    return f"{WORKFLOW_MAJOR_VERSION}.{WORKFLOW_MINOR_VERSION}"


def answer_labels(campaign: Campaign) -> list[tuple[str, str]]:
    """(key, label) of T0's answers in order: the campaign's classes, then Skip."""
    return [(c["key"], c.get("label", c["key"])) for c in campaign.classes] + [(SKIP, "Skip")]


# ------------------------------------------------------------------------------------ Zooniverse classification


def _zooniverse_time(value) -> str:
    # isoformat + slicing is several times faster than strftime, and created_at is always UTC here.
    return value.isoformat(sep=" ")[:19] + " UTC"


def _iso(value) -> str:
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


def zooniverse_classification_rows(campaign: Campaign) -> Iterator[list[Any]]:
    from datetime import timedelta

    version = workflow_version(campaign)
    # The annotation of a vote depends only on its answer: encode each once.
    annotations = {
        key: _json([{"task": TASK, "task_label": campaign.question, "value": label}])
        for key, label in answer_labels(campaign)
    }
    votes = (
        Vote.objects.filter(campaign=campaign)
        .order_by("id")
        .values_list(
            "id",
            "volunteer_id",
            "volunteer__username",
            "answer",
            "created_at",
            "duration_ms",
            "was_gold",
            "user_agent",
            "subject_id",
            "subject__alert__candid",
            "subject__alert__object_id",
            "subject__retired",
            "subject__retired_at",
            "subject__retired_reason",
            "subject__n_classifications",
            "subject__gold_answer",
        )
    )
    for (
        vote_id,
        user_id,
        username,
        answer,
        created_at,
        duration_ms,
        was_gold,
        user_agent,
        subject_id,
        candid,
        object_id,
        retired,
        retired_at,
        retired_reason,
        n_classifications,
        gold_answer,
    ) in votes.iterator(chunk_size=CHUNK):
        started = created_at - timedelta(milliseconds=duration_ms or 0)
        metadata = (
            '{{"source":"blink","started_at":"{}","finished_at":"{}","user_agent":{},"utc_offset":"0",'
            '"user_language":"en","live_project":true,"duration_ms":{},'
            '"subject_selection_state":{{"retired":{},"gold_standard":{}}}}}'.format(
                _iso(started),
                _iso(created_at),
                _json(user_agent),
                "null" if duration_ms is None else int(duration_ms),
                "true" if retired else "false",
                "true" if was_gold else "false",
            )
        )
        subject = {
            "retired": (
                {
                    "id": subject_id,
                    "workflow_id": campaign.pk,
                    "classifications_count": n_classifications,
                    "retired_at": _iso(retired_at) if retired_at else None,
                    "subject_id": subject_id,
                    "retirement_reason": retired_reason,
                }
                if retired
                else None
            ),
            "candid": str(candid),
            "objectId": object_id,
        }
        if gold_answer:
            # Zooniverse hides subject fields whose name starts with '#' from volunteers.
            subject["#gold_answer"] = gold_answer
        yield [
            vote_id,
            username,
            user_id,
            "",
            campaign.pk,
            campaign.name,
            version,
            _zooniverse_time(created_at),
            "",
            "",
            metadata,
            annotations.get(answer) or _json([{"task": TASK, "task_label": campaign.question, "value": answer}]),
            _json({str(subject_id): subject}),
            subject_id,
        ]


def zooniverse_classifications_csv(campaign: Campaign) -> Iterator[str]:
    return _csv_lines(CLASSIFICATION_COLUMNS, zooniverse_classification_rows(campaign))


# -------------------------------------------------------------------------------------- Zooniverse workflow


def workflow_row(campaign: Campaign) -> list[Any]:
    answers = answer_labels(campaign)
    tasks = {
        TASK: {
            "help": f"{TASK}.help",
            "type": "single",
            "answers": [{"label": f"{TASK}.answers.{i}.label"} for i in range(len(answers))],
            "question": f"{TASK}.question",
            "required": True,
        }
    }
    help_text = "\n".join(f"{c['label']}: {c.get('description', '')}".rstrip(": ") for c in campaign.classes)
    strings = {f"{TASK}.help": help_text, f"{TASK}.question": campaign.question}
    strings.update({f"{TASK}.answers.{i}.label": label for i, (_key, label) in enumerate(answers)})
    retirement = {"criteria": "classification_count", "options": {"count": campaign.retire_after}}
    if campaign.retire_agree_k:
        # Not a Zooniverse criterion; kept so the export says how Blink retired subjects early.
        retirement["blink_agreement"] = {"k": campaign.retire_agree_k, "fraction": campaign.retire_agree_fraction}
    counts = campaign.subjects.aggregate(n=Count("id", filter=Q(retired=True)))
    tutorial = campaign.tutorial_steps.exclude(example_alert=None).values_list("example_alert_id", flat=True).first()
    tutorial_subject = (
        campaign.subjects.filter(alert_id=tutorial).values_list("id", flat=True).first() if tutorial else None
    )
    return [
        campaign.pk,
        campaign.name,
        WORKFLOW_MAJOR_VERSION,
        "true" if campaign.state == Campaign.State.LIVE else "false",
        campaign.votes.count(),
        "false",
        "false",
        "false",
        "en",
        TASK,
        tutorial_subject or "",
        counts["n"],
        _json(tasks),
        _json(retirement),
        "{}",
        # panoptes_aggregation reads this column with eval(): plain strings only, which JSON gives.
        _json(strings),
        WORKFLOW_MINOR_VERSION,
    ]


def workflow_csv(campaign: Campaign) -> Iterator[str]:
    return _csv_lines(WORKFLOW_COLUMNS, iter([workflow_row(campaign)]))


# ---------------------------------------------------------------------------------------------- consensus


def ensure_consensus(campaign: Campaign) -> None:
    """Refit the weighted consensus now if some voted subject has none yet (the background task may lag)."""
    from labeling.consensus import recompute_consensus

    stale = campaign.subjects.filter(n_votes__gt=0, weighted_label="").exists()
    if stale:
        recompute_consensus(campaign)


def consensus_rows(
    campaign: Campaign, *, method: str = "dawid_skene", retired_only: bool = False
) -> Iterator[dict[str, Any]]:
    if method not in METHODS:
        raise ExportError(f"method must be one of {', '.join(METHODS)}")
    label_field, confidence_field = (
        ("majority_label", "majority_fraction") if method == "majority" else ("weighted_label", "weighted_posterior")
    )
    subjects = campaign.subjects.exclude(**{label_field: ""}).order_by("alert__candid")
    if retired_only:
        subjects = subjects.filter(retired=True)
    rows = subjects.values_list("alert__candid", "alert__object_id", label_field, confidence_field, "n_votes")
    for candid, object_id, label, confidence, n_votes in rows.iterator(chunk_size=CHUNK):
        yield {
            "candid": candid,
            "objectId": object_id,
            "label": label,
            "confidence": round(confidence, 6) if confidence is not None else None,
            "n_votes": n_votes,
            "method": method,
        }


def consensus_csv(campaign: Campaign, **kwargs) -> Iterator[str]:
    rows = ([r[c] for c in CONSENSUS_COLUMNS] for r in consensus_rows(campaign, **kwargs))
    return _csv_lines(CONSENSUS_COLUMNS, rows)


def consensus_json(campaign: Campaign, **kwargs) -> Iterator[str]:
    """A JSON document ``{"campaign", "method", "labels": [...]}`` streamed label by label."""
    method = kwargs.get("method", "dawid_skene")
    yield '{"campaign":' + _json(campaign.slug) + ',"method":' + _json(method) + ',"labels":['
    first = True
    for row in consensus_rows(campaign, **kwargs):
        yield ("" if first else ",") + _json(row)
        first = False
    yield "]}\n"


# ------------------------------------------------------------------------------------------- training set


def _npy_header(array_shape: tuple[int, ...], dtype: np.dtype) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_2_0(
        buffer, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": array_shape}
    )
    return buffer.getvalue()


def training_set_classes(campaign: Campaign) -> list[str]:
    """Class names in label-index order. Real/bogus puts bogus first so that label 1 means real, as braai."""
    keys = campaign.answer_keys
    if campaign.question_type == Campaign.QuestionType.REAL_BOGUS and set(keys) == {"real", "bogus"}:
        return ["bogus", "real"]
    return keys


def write_training_set(
    campaign: Campaign, out: IO[bytes] | str | Path, *, method: str = "dawid_skene", retired_only: bool = False
) -> int:
    """Write an .npz: ``stamps`` (N, 63, 63, 3) float32 from classifiers.preprocessing, ``labels`` (N,) int
    indices into ``classes``, ``label_keys``, ``confidence``, ``candids``, ``objectIds``. Stamps go to the file
    chunk by chunk, so N is bounded by disk, not memory. Returns N."""
    from classifiers.preprocessing import INPUT_SHAPE, load_inputs

    if method not in METHODS:
        raise ExportError(f"method must be one of {', '.join(METHODS)}")
    classes = training_set_classes(campaign)
    index = {k: i for i, k in enumerate(classes)}
    label_field, confidence_field = (
        ("majority_label", "majority_fraction") if method == "majority" else ("weighted_label", "weighted_posterior")
    )
    subjects = campaign.subjects.exclude(**{label_field: ""}).filter(alert__stamps__isnull=False)
    if retired_only:
        subjects = subjects.filter(retired=True)
    rows = list(
        subjects.order_by("alert__candid").values_list(
            "alert_id", "alert__candid", "alert__object_id", label_field, confidence_field
        )
    )
    n = len(rows)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open("stamps.npy", "w", force_zip64=True) as member:
            member.write(_npy_header((n, *INPUT_SHAPE), np.float32))
            for start in range(0, n, CHUNK):
                chunk = rows[start : start + CHUNK]
                stamps = load_inputs([r[0] for r in chunk]).astype("<f4", copy=False)
                member.write(np.ascontiguousarray(stamps).tobytes())
        width = max([len(r[2]) for r in rows] + [1])
        arrays = {
            "labels": np.array([index[r[3]] for r in rows], dtype=np.int64),
            "label_keys": np.array([r[3] for r in rows], dtype=f"<U{max(len(k) for k in classes)}"),
            "confidence": np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float32),
            "candids": np.array([r[1] for r in rows], dtype=np.int64),
            "objectIds": np.array([r[2] for r in rows], dtype=f"<U{width}"),
            "classes": np.array(classes),
        }
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
    return n


def export_stream(campaign: Campaign, kind: str, **kwargs) -> Iterator[str]:
    """The text exports by name (the .npz is binary: see ``write_training_set``)."""
    if kind == "zooniverse":
        return zooniverse_classifications_csv(campaign)
    if kind == "workflow":
        return workflow_csv(campaign)
    if kind == "consensus-csv":
        return consensus_csv(campaign, **kwargs)
    if kind == "consensus-json":
        return consensus_json(campaign, **kwargs)
    raise ExportError(f"unknown export kind {kind!r}; expected one of {', '.join(KINDS)}")


def export_filename(campaign: Campaign, kind: str) -> str:
    return {
        "zooniverse": f"{campaign.slug}-classifications.csv",
        "workflow": f"{campaign.slug}-workflows.csv",
        "consensus-csv": f"{campaign.slug}-consensus.csv",
        "consensus-json": f"{campaign.slug}-consensus.json",
        "npz": f"{campaign.slug}-training-set.npz",
    }[kind]


def subjects_with_votes(campaign: Campaign) -> int:
    return Subject.objects.filter(campaign=campaign, n_classifications__gt=0).count()
