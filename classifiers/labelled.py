"""Labelled alerts: the one selector that training, evaluation, the held-out set and the benches read.

Three sources know an alert's answer, each with its own trust:

* ``consensus``: volunteers' consensus on retired subjects, the skill-weighted label (weighted by its posterior)
  when consensus has run, else the majority label (weighted by its agreement fraction); skips never label. Either
  one campaign's (``campaign=``) or, for evaluation, every campaign asking the task's question, where an alert in
  several campaigns takes its most-voted subject.
* ``demo_truth``: the demo generator's known class of each synthetic alert.
* ``gold``: an expert's gold-standard answer on a campaign subject.

One positive class per task (:data:`POSITIVE_LABELS`) turns answers into targets everywhere, and one salted
objectId hash (:func:`object_bucket`) decides both the fixed held-out set and the train / validation / test split,
so every alert of an object sits on one side: alerts of one object look alike and would flatter the metrics.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from classifiers.ensemble import PLAUSIBLE_CLASSES, STREAK_TARGETS
from classifiers.models import Task, task_survey
from core.conf import blink_setting
from labeling.models import SKIP, Alert, Campaign, Subject

REAL = "real"
BOGUS = "bogus"

CONSENSUS = "consensus"
DEMO_TRUTH = "demo_truth"
GOLD = "gold"
# Rubin's own real/bogus score (diaSource.reliability, stored in ``drb``) made a label: a model's opinion, never
# human truth, read only where a Rubin reference is needed and nobody has answered (the Rubin held-out set).
RELIABILITY = "reliability"
SOURCE_LABELS = {
    CONSENSUS: "volunteer consensus (retired subjects)",
    DEMO_TRUTH: "demo truth (generated alerts)",
    GOLD: "gold-standard expert answers",
    RELIABILITY: "Rubin's reliability (a model's opinion, not human labels)",
}

SPLITS = ("all", "train", "heldout")
# The train / validation / test split of one training hashes objects under its own salt, one per seed.
SPLIT_SALT = "blink-train-split-{seed}"

# The answers that count as the positive class. Real/bogus: a genuine astrophysical source. Streaks: DeepStreaks'
# goal, a streaking near-Earth asteroid, is what an ML lead must not lose (the ensemble's "plausible" classes).
POSITIVE_LABELS = {
    Task.REAL_BOGUS: frozenset({REAL}),
    Task.STREAKS: PLAUSIBLE_CLASSES,
    Task.RUBIN_REAL_BOGUS: frozenset({REAL}),
}
# The answers a task can learn from: a streak campaign's types (and demo truth) are bogus kinds for braai, and a
# real point source is a non-streak for the streak ensemble; "bogus" says nothing about which streak type.
KNOWN_LABELS = {
    Task.REAL_BOGUS: frozenset({REAL, BOGUS, *STREAK_TARGETS}),
    Task.STREAKS: frozenset(STREAK_TARGETS),
    Task.RUBIN_REAL_BOGUS: frozenset({REAL, BOGUS, *STREAK_TARGETS}),
}
# Which campaigns' answers label which task. A Rubin campaign asks the real/bogus question; which task its
# answers label is the survey of its alerts (every source below is restricted to the task's survey), so ZTF
# labels never train the Rubin model and Rubin labels never train ZTF's.
QUESTION_TYPES = {
    Task.REAL_BOGUS: Campaign.QuestionType.REAL_BOGUS,
    Task.STREAKS: Campaign.QuestionType.STREAK,
    Task.RUBIN_REAL_BOGUS: Campaign.QuestionType.REAL_BOGUS,
}


def _task(task: str) -> Task:
    try:
        return Task(task)
    except ValueError:
        raise ValueError(f"unknown task {task!r}; expected one of {', '.join(Task.values)}") from None


def positive_labels(task: str) -> frozenset[str]:
    return POSITIVE_LABELS[_task(task)]


def targets(task: str, labels: Sequence[str]) -> np.ndarray:
    """1.0 for the task's positive class, 0.0 for any other answer it knows; an unknown answer is an error."""
    known = KNOWN_LABELS[_task(task)]
    unknown = sorted({label for label in labels if label not in known})
    if unknown:
        raise ValueError(f"labels {', '.join(unknown)} are not answers of the {task} task")
    positives = positive_labels(task)
    return np.array([label in positives for label in labels], dtype=np.float32)


def real_bogus_targets(labels: Sequence[str]) -> np.ndarray:
    return targets(Task.REAL_BOGUS, labels)


# Real survey packets carry no human label; benches and the simulation may stand in ZTF's own braai score (drb):
# confident scores become labels, the uncertain middle is left out. These are braai's outputs, not human labels.
DRB_REAL = 0.9
DRB_BOGUS = 0.1


# Rubin's reliability spreads wider and lower (0.10 to 1.00, median 0.44 on the shared alerts; none below 0.1):
# ZTF's cuts would leave no bogus alert, so Rubin's confident ends are wider.
RELIABILITY_REAL = 0.8
RELIABILITY_BOGUS = 0.2
# The survey's own model score (Alert.drb) and the cuts that make it a label: (real above, bogus below).
OPINION_CUTS = {"ztf": (DRB_REAL, DRB_BOGUS), "rubin": (RELIABILITY_REAL, RELIABILITY_BOGUS)}


def drb_targets(drb, survey: str = "ztf") -> np.ndarray:
    """1.0 where the survey's own score is above its real cut (ZTF ``drb > 0.9``, Rubin ``reliability > 0.8``),
    0.0 below its bogus cut (0.1, Rubin 0.2), NaN in between or where it is missing."""
    real, bogus = OPINION_CUTS[survey]
    drb = np.asarray(drb, dtype=np.float64)
    out = np.full(drb.shape, np.nan)
    safe = np.where(np.isfinite(drb), drb, (real + bogus) / 2)  # missing or infinite: no label
    out[safe > real] = 1.0
    out[safe < bogus] = 0.0
    return out


# ------------------------------------------------------------------------------------------------------------
# The object-hash split
# ------------------------------------------------------------------------------------------------------------


def heldout_fraction() -> float:
    return float(blink_setting("HELDOUT_FRACTION"))


def heldout_salt() -> str:
    return str(blink_setting("HELDOUT_SALT"))


def object_bucket(object_id: str, salt: str | None = None) -> float:
    """A number in [0, 1) fixed by the objectId and the salt (the held-out salt by default): every alert of one
    object falls in the same bucket, on every worker, without any stored state."""
    digest = hashlib.sha256(f"{heldout_salt() if salt is None else salt}:{object_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def is_heldout(object_id: str) -> bool:
    """Whether the object belongs to the fixed held-out set (the lowest ``HELDOUT_FRACTION`` of buckets)."""
    return object_bucket(object_id) < heldout_fraction()


@dataclass
class Split:
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def sizes(self) -> dict:
        return {"train": int(len(self.train)), "val": int(len(self.val)), "test": int(len(self.test))}


def split_by_object(
    object_ids: Sequence[str], strata: Sequence, *, val_fraction: float, test_fraction: float, seed: int
) -> Split:
    """Train / validation / test indices with every object on one side only. Within each stratum (an object's
    stratum is that of its first alert) objects are ranked by their bucket under a salt of ``seed``: the lowest
    go to test, the next to validation, so rare classes reach every side when there are enough of them."""
    first_stratum: dict[str, object] = {}
    for object_id, stratum in zip(object_ids, strata, strict=True):
        first_stratum.setdefault(object_id, stratum)
    by_stratum: dict[object, list[str]] = {}
    for object_id, stratum in first_stratum.items():
        by_stratum.setdefault(stratum, []).append(object_id)
    side: dict[str, str] = {}
    for objects in by_stratum.values():
        objects.sort(key=lambda o: (object_bucket(o, salt=SPLIT_SALT.format(seed=seed)), o))
        n = len(objects)
        n_test = int(round(n * test_fraction))
        n_val = int(round(n * val_fraction))
        if n >= 3:
            n_test, n_val = max(n_test, 1), max(n_val, 1)
        for i, object_id in enumerate(objects):
            side[object_id] = "test" if i < n_test else "val" if i < n_test + n_val else "train"
    sides = np.array([side[o] for o in object_ids])
    return Split(*(np.nonzero(sides == name)[0] for name in ("train", "val", "test")))


# ------------------------------------------------------------------------------------------------------------
# The labelled set
# ------------------------------------------------------------------------------------------------------------


@dataclass
class LabelledSet:
    """Labelled alerts of one task: ids, answers (``real``/``bogus`` or streak types) and their targets ``y``
    (1 for the task's positive class), per-label weights (consensus confidence; 1 for truth), which source
    labelled each alert, and for splitting and fingerprints each alert's objectId and candid."""

    task: str
    alert_ids: list[int]
    labels: list[str]
    y: np.ndarray
    weights: np.ndarray
    origins: list[str]  # CONSENSUS, DEMO_TRUTH or GOLD, per alert
    object_ids: list[str]
    candids: list[int]
    source: str = CONSENSUS  # "campaign" for one campaign's consensus, else the sources joined by "+"
    campaigns: list[str] = field(default_factory=list)
    split: str = "all"
    heldout_excluded: int = 0  # alerts of held-out objects left out of a "train" split

    def __len__(self) -> int:
        return len(self.alert_ids)

    def fingerprint(self) -> str:
        """sha256 over (candid, label, weight), order-independent: two equal sets share it."""
        digest = hashlib.sha256()
        for candid, label, weight in sorted(zip(self.candids, self.labels, self.weights.tolist(), strict=True)):
            digest.update(f"{candid}:{label}:{weight:.4f}\n".encode())
        return digest.hexdigest()

    def origin_counts(self) -> dict[str, int]:
        counts = Counter(self.origins)
        # Reliability labels only appear in Rubin's held-out set: named only where they are.
        return {origin: counts[origin] for origin in SOURCE_LABELS if origin != RELIABILITY or counts[origin]}

    def describe(self) -> dict:
        out = {
            "source": self.source,
            "campaigns": list(self.campaigns),
            "split": self.split,
            "n": len(self),
            "n_labels": len(self),
            "n_positive": int(self.y.sum()),
            "per_label": dict(sorted(Counter(self.labels).items())),
            "n_objects": len(set(self.object_ids)),
            "fingerprint": self.fingerprint(),
        }
        if self.split != "all":
            out["heldout_fraction"] = heldout_fraction()
        if self.split == "train":
            out["heldout_excluded"] = self.heldout_excluded
        return out

    def subset(self, index: Iterable[int]) -> LabelledSet:
        index = np.asarray(list(index), dtype=np.int64)
        return LabelledSet(
            task=self.task,
            alert_ids=[self.alert_ids[i] for i in index],
            labels=[self.labels[i] for i in index],
            y=self.y[index],
            weights=self.weights[index],
            origins=[self.origins[i] for i in index],
            object_ids=[self.object_ids[i] for i in index],
            candids=[self.candids[i] for i in index],
            source=self.source,
            campaigns=list(self.campaigns),
            split=self.split,
            heldout_excluded=self.heldout_excluded,
        )


def _consensus_rows(subjects) -> Iterable[tuple[int, str, float]]:
    """(alert id, label, weight) of retired subjects; an alert in several campaigns takes its most-voted one."""
    rows = (
        subjects.filter(retired=True)
        .order_by("alert_id", "-n_votes", "pk")
        .values_list("alert_id", "weighted_label", "weighted_posterior", "majority_label", "majority_fraction")
    )
    seen: set[int] = set()
    for alert_id, weighted_label, posterior, majority_label, fraction in rows:
        if alert_id in seen:
            continue
        if weighted_label and weighted_label != SKIP:
            label, weight = weighted_label, posterior
        elif majority_label and majority_label != SKIP:
            label, weight = majority_label, fraction
        else:
            continue
        seen.add(alert_id)
        yield alert_id, label, 1.0 if weight is None else float(weight)


def _reliability_rows(survey: str, alerts) -> Iterable[tuple[int, str, float]]:
    """Rubin alerts whose reliability is confident either way, as real/bogus: a model's opinion."""
    if survey != "rubin":
        return
    queryset = alerts if alerts is not None else Alert.objects.all()
    rows = list(queryset.filter(survey=survey, drb__isnull=False).order_by("pk").values_list("pk", "drb"))
    for (pk, _), target in zip(rows, drb_targets([drb for _, drb in rows], survey), strict=True):
        if np.isfinite(target):
            yield pk, REAL if target == 1.0 else BOGUS, 1.0


def _source_rows(task: Task, source: str, alerts, gold_campaign=None) -> Iterable[tuple[int, str, float]]:
    question = QUESTION_TYPES[task]
    survey = task_survey(task)
    if source == CONSENSUS:
        yield from _consensus_rows(Subject.objects.filter(campaign__question_type=question, alert__survey=survey))
    elif source == DEMO_TRUTH:
        queryset = alerts if alerts is not None else Alert.objects.all()
        for pk, truth in queryset.filter(survey=survey).exclude(demo_truth="").values_list("pk", "demo_truth"):
            yield pk, truth, 1.0
    elif source == GOLD:
        gold = Subject.objects.exclude(gold_answer="").filter(campaign__question_type=question, alert__survey=survey)
        if gold_campaign is not None:
            gold = gold.filter(campaign=gold_campaign)
        for alert_id, answer in gold.order_by("pk").values_list("alert_id", "gold_answer"):
            yield alert_id, answer, 1.0
    elif source == RELIABILITY:
        yield from _reliability_rows(survey, alerts)
    else:
        raise ValueError(f"unknown label source {source!r}; expected some of {', '.join(SOURCE_LABELS)}")


def labelled_alerts(
    task: str,
    *,
    campaign=None,
    sources: Sequence[str] = (CONSENSUS, DEMO_TRUTH),
    split: str = "all",
    alerts=None,
    gold_campaign=None,
) -> LabelledSet:
    """The labelled alerts of ``task``, sorted by alert id.

    Only alerts of the task's survey (``TASK_SURVEY``) are ever labelled for it, whatever the source.

    ``campaign``: that campaign's consensus alone (what a retraining learns from), labels kept as volunteers
    gave them. Otherwise ``sources`` in order of trust: an alert takes the label of the first source that has
    one, and answers the task cannot learn from are left out. ``alerts`` narrows the demo truth to a queryset,
    ``gold_campaign`` the gold answers to that campaign's subjects (a reference set of its gold subjects).
    ``split``: ``"train"`` leaves out the fixed held-out objects, ``"heldout"`` keeps only them.
    """
    task = _task(task)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    chosen: dict[int, tuple[str, float, str]] = {}
    if campaign is not None:
        subjects = Subject.objects.filter(campaign=campaign, alert__survey=task_survey(task))
        for alert_id, label, weight in _consensus_rows(subjects):
            chosen[alert_id] = (label, weight, CONSENSUS)
        source, campaigns = "campaign", [campaign.slug]
    else:
        known = KNOWN_LABELS[task]
        for name in sources:
            for alert_id, label, weight in _source_rows(task, name, alerts, gold_campaign):
                if label in known and alert_id not in chosen:
                    chosen[alert_id] = (label, weight, name)
        source, campaigns = "+".join(sources), []
    meta = dict(
        (pk, (object_id, candid))
        for pk, object_id, candid in Alert.objects.filter(pk__in=list(chosen)).values_list("pk", "object_id", "candid")
    )
    ids = sorted(chosen)
    n_heldout = 0
    if split != "all":
        heldout = {i for i in ids if is_heldout(meta[i][0])}
        n_heldout = len(heldout)
        ids = [i for i in ids if (i in heldout) == (split == "heldout")]
    labels = [chosen[i][0] for i in ids]
    positives = POSITIVE_LABELS[task]
    return LabelledSet(
        task=task.value,
        alert_ids=ids,
        labels=labels,
        y=np.array([label in positives for label in labels], dtype=np.float32),
        weights=np.array([chosen[i][1] for i in ids], dtype=np.float32),
        origins=[chosen[i][2] for i in ids],
        object_ids=[meta[i][0] for i in ids],
        candids=[meta[i][1] for i in ids],
        source=source,
        campaigns=campaigns,
        split=split,
        heldout_excluded=n_heldout if split == "train" else 0,
    )


def heldout_sources(task: str) -> tuple[str, ...]:
    """Where the held-out set's answers come from: demo truth, then gold. Rubin alerts have neither demo truth
    nor (so far) human labels, so the Rubin set takes Rubin's reliability where no expert answered: a model's
    opinion, and every page that shows it says so."""
    if task_survey(task) == "rubin":
        return (DEMO_TRUTH, GOLD, RELIABILITY)
    return (DEMO_TRUTH, GOLD)


def heldout_set(task: str) -> LabelledSet:
    """The task's fixed held-out alerts with known truth (:func:`heldout_sources`). Every worker computes the
    same set from the objectIds alone; its alerts never enter a retraining set."""
    return labelled_alerts(task, sources=heldout_sources(task), split="heldout")
