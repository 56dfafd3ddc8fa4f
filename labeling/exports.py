"""Campaign exports: Zooniverse classification and workflow CSVs, consensus labels.

The .npz training set needs the network's preprocessing, so it is written one floor up
(``classifiers.exports``), from the labelled subjects selected here. Every text export is a generator of text
chunks, reading votes with
``iterator()`` so a campaign of a million votes never sits in memory. The Zooniverse layout is the one
Zooniverse's own ``panoptes_aggregation config / extract / reduce`` reads: the campaign is one workflow with a
single-choice question task ``T0`` whose answers are the campaign's classes. A Skip is not an answer: it is
exported as Zooniverse exports a question left unanswered (``"value": null``, which panoptes_aggregation counts
as ``None``), so that no reducer mistakes it for a class, with ``"skipped": true`` in the row's metadata; the
task is therefore not ``required``. A vote on a gold-standard subject carries ``gold_standard`` = ``true``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any

from django.db.models import Count, Q, QuerySet

from core.errors import ServiceError
from labeling.consensus import recompute_consensus
from labeling.models import SKIP, Campaign, Vote

CHUNK = 2000
WORKFLOW_MAJOR_VERSION = 1
# Zooniverse bumps the minor version on text edits; Blink keeps one version per campaign.
WORKFLOW_MINOR_VERSION = 1
TASK = "T0"
TEXT_KINDS = ("zooniverse", "workflow", "consensus-csv", "consensus-json")
# The exports made of consensus labels (the .npz is ``classifiers.exports``'s).
LABEL_KINDS = ("consensus-csv", "consensus-json", "npz")
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


class ExportError(ServiceError):
    """An export asked for in a way Blink cannot serve (unknown kind or consensus method)."""


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
    """(key, label) of T0's answers in order: the campaign's classes (Skip is no answer)."""
    return [(c["key"], c.get("label", c["key"])) for c in campaign.classes]


# ------------------------------------------------------------------------------------ Zooniverse classification


def _zooniverse_time(value) -> str:
    # isoformat + slicing is several times faster than strftime, and created_at is always UTC here.
    return value.isoformat(sep=" ")[:19] + " UTC"


def _iso(value) -> str:
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


# What a classification row is made of, in the order the loop below unpacks it.
CLASSIFICATION_SOURCE = ("id", "volunteer_id", "volunteer__username", "answer", "created_at", "duration_ms",
                         "was_gold", "user_agent", "subject_id", "subject__alert__candid", "subject__alert__object_id",
                         "subject__retired", "subject__retired_at", "subject__retired_reason",
                         "subject__n_classifications", "subject__gold_answer")  # fmt: skip


def zooniverse_classification_rows(campaign: Campaign) -> Iterator[list[Any]]:
    from datetime import timedelta

    version = workflow_version(campaign)
    # The annotation of a vote depends only on its answer: encode each once.
    annotations = {
        key: _json([{"task": TASK, "task_label": campaign.question, "value": label}])
        for key, label in answer_labels(campaign)
    }
    annotations[SKIP] = _json([{"task": TASK, "task_label": campaign.question, "value": None}])
    votes = Vote.objects.filter(campaign=campaign).order_by("id").values_list(*CLASSIFICATION_SOURCE)
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
        # A gold subject's vote, whether the subject was gold when the vote came or was made gold since.
        gold = was_gold or bool(gold_answer)
        started = created_at - timedelta(milliseconds=duration_ms or 0)
        metadata = (
            '{{"source":"blink","started_at":"{}","finished_at":"{}","user_agent":{},"utc_offset":"0",'
            '"user_language":"en","live_project":true,"duration_ms":{},"skipped":{},'
            '"subject_selection_state":{{"retired":{},"gold_standard":{}}}}}'.format(
                _iso(started),
                _iso(created_at),
                _json(user_agent),
                "null" if duration_ms is None else int(duration_ms),
                "true" if answer == SKIP else "false",
                "true" if retired else "false",
                "true" if gold else "false",
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
            "true" if gold else "",
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
            # A volunteer may skip (exported as no answer), as on a Zooniverse task that is not required.
            "required": False,
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


def ensure_consensus(campaign: Campaign, *, kind: str, method: str) -> None:
    """An export of Dawid-Skene labels reads the stored weighted consensus: refit it now if some voted subject
    has none yet (the background task may lag)."""
    if kind not in LABEL_KINDS or method != "dawid_skene":
        return
    if campaign.subjects.filter(n_votes__gt=0, weighted_label="").exists():
        recompute_consensus(campaign)


def labelled_subjects(campaign: Campaign, *, method: str, retired_only: bool = False) -> tuple[QuerySet, str, str]:
    """The subjects that have a consensus label by ``method``, with the names of its label and confidence fields:
    what the consensus exports and the training set are made of."""
    if method not in METHODS:
        raise ExportError(f"method must be one of {', '.join(METHODS)}")
    label_field, confidence_field = (
        ("majority_label", "majority_fraction") if method == "majority" else ("weighted_label", "weighted_posterior")
    )
    subjects = campaign.subjects.exclude(**{label_field: ""})
    if retired_only:
        subjects = subjects.filter(retired=True)
    return subjects.order_by("alert__candid"), label_field, confidence_field


def consensus_rows(
    campaign: Campaign, *, method: str = "dawid_skene", retired_only: bool = False
) -> Iterator[dict[str, Any]]:
    subjects, label_field, confidence_field = labelled_subjects(campaign, method=method, retired_only=retired_only)
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


def export_stream(
    campaign: Campaign, kind: str, *, method: str = "dawid_skene", retired_only: bool = False
) -> Iterator[str]:
    """The text exports by name (the .npz is binary: see ``classifiers.exports``); ``method`` and
    ``retired_only`` choose the labels of the consensus exports."""
    if kind == "zooniverse":
        return zooniverse_classifications_csv(campaign)
    if kind == "workflow":
        return workflow_csv(campaign)
    if kind == "consensus-csv":
        return consensus_csv(campaign, method=method, retired_only=retired_only)
    if kind == "consensus-json":
        return consensus_json(campaign, method=method, retired_only=retired_only)
    raise ExportError(f"unknown export kind {kind!r}; expected one of {', '.join(TEXT_KINDS)}")


def export_filename(campaign: Campaign, kind: str) -> str:
    return {
        "zooniverse": f"{campaign.slug}-classifications.csv",
        "workflow": f"{campaign.slug}-workflows.csv",
        "consensus-csv": f"{campaign.slug}-consensus.csv",
        "consensus-json": f"{campaign.slug}-consensus.json",
        "npz": f"{campaign.slug}-training-set.npz",
    }[kind]
