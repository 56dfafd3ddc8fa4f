"""The model registry, scores per (alert, version), cached explanations, training runs and drift."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Task(models.TextChoices):
    REAL_BOGUS = "real_bogus", "Real / bogus (braai)"
    STREAKS = "streaks", "Streaks (DeepStreaks ensemble)"
    # Kept apart from the ZTF classifier: its own versions, active version, scores, drift and comparisons. A
    # Rubin stamp is another instrument's picture (0.2"/px, 30x30 to 71x71), so a ZTF score means nothing there.
    RUBIN_REAL_BOGUS = "rubin_real_bogus", "Rubin real / bogus (braai, fine-tuned)"


# The survey whose alerts each task scores and learns from (``labeling.models.Alert.survey``).
TASK_SURVEY = {Task.REAL_BOGUS: "ztf", Task.STREAKS: "ztf", Task.RUBIN_REAL_BOGUS: "rubin"}
# The real/bogus task of each survey: which classifier scores and explains an alert of that survey.
REAL_BOGUS_TASK_OF_SURVEY = {"ztf": Task.REAL_BOGUS, "rubin": Task.RUBIN_REAL_BOGUS}
# Tasks answered by one braai network (one sigmoid): same architecture, same training code, same score panel.
BRAAI_TASKS = frozenset({Task.REAL_BOGUS, Task.RUBIN_REAL_BOGUS})
# The tasks whose versions a version of each task may be fine-tuned from (its parent): its own, and for Rubin
# also ZTF's braai, which is how a Rubin model starts when none has been trained on Rubin stamps yet.
PARENT_TASKS = {
    Task.REAL_BOGUS: frozenset({Task.REAL_BOGUS}),
    Task.STREAKS: frozenset({Task.STREAKS}),
    Task.RUBIN_REAL_BOGUS: frozenset({Task.RUBIN_REAL_BOGUS, Task.REAL_BOGUS}),
}


# One line per task for command-line help (``--task``).
TASK_HELP = (
    "real_bogus: ZTF's braai real/bogus CNN (scores and learns ZTF alerts); streaks: ZTF's streak ensemble; "
    "rubin_real_bogus: braai for Rubin LSSTCam alerts, kept apart from ZTF's (scores and learns Rubin alerts only; "
    "its stamps, 30x30 to 71x71 at 0.2\"/px, are centre-cropped or padded to 63x63; starts from braai's weights)"
)


def task_survey(task: str) -> str:
    """The survey whose alerts ``task`` scores and learns from (``"ztf"`` for an unknown task, as before Rubin)."""
    return TASK_SURVEY.get(task, "ztf")


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        CANDIDATE = "candidate", "Candidate"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    task = models.CharField(max_length=16, choices=Task.choices, db_index=True)
    version = models.PositiveIntegerField(help_text="1, 2, 3... per task")
    architecture = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE, db_index=True)
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children")
    hyperparameters = models.JSONField(default=dict)
    # Which labels, how many, from which campaigns: enough to tell two training sets apart.
    training_set = models.JSONField(default=dict)
    # accuracy, precision, recall, fpr, fnr, roc_auc, threshold, confusion, roc {fpr, tpr, thresholds}, ...
    metrics = models.JSONField(default=dict)
    # Streak ensemble: per-group thresholds and member names. braai: the operating threshold.
    thresholds = models.JSONField(default=dict)
    # The .keras file (a zip; for the streak ensemble, a zip of members) lives in the database so every
    # web server and worker reads the same bytes; each process caches it on disk under its sha256.
    weights = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    size_bytes = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    notes = models.TextField(blank=True)
    # Where an imported version came from: {"name", "source", "file", "sha256", "licence"}; empty when trained here.
    provenance = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["task", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["task", "version"], name="model_version_unique"),
            # Exactly one active version per task, enforced by the database itself.
            models.UniqueConstraint(fields=["task"], condition=Q(status="active"), name="model_one_active_per_task"),
        ]

    def __str__(self) -> str:
        return f"{self.task} v{self.version} ({self.status})"

    @property
    def label(self) -> str:
        return f"{self.task} v{self.version}"


class RegistryEvent(models.Model):
    """Audit log of the registry: who promoted or rolled back what, when, and why."""

    class Action(models.TextChoices):
        REGISTER = "register", "Registered"
        PROMOTE = "promote", "Promoted"
        ROLLBACK = "rollback", "Rolled back"
        RETIRE = "retire", "Retired"
        AUTO_PROMOTE = "auto_promote", "Promoted by policy"
        REJECT = "reject", "Kept as candidate by policy"

    task = models.CharField(max_length=16, choices=Task.choices)
    action = models.CharField(max_length=16, choices=Action.choices)
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="events")
    previous_active = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField()
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]


class Score(models.Model):
    """A version's score of one alert. Kept per version so two versions can be compared."""

    alert = models.ForeignKey("labeling.Alert", on_delete=models.CASCADE, related_name="scores")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="scores")
    score = models.FloatField()
    # Streak ensemble: {"rb": [...], "sl": [...], "kd": [...], "plausible": bool}; braai: {}.
    details = models.JSONField(default=dict, blank=True)
    # Penultimate-layer embedding (float16 bytes) for ranked-batch diversity sampling; optional.
    embedding = models.BinaryField(null=True, blank=True)
    scored_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "version"], name="score_unique_per_version")]
        indexes = [models.Index(fields=["version", "score"], name="score_version_score")]


class Explanation(models.Model):
    class Kind(models.TextChoices):
        SALIENCY = "saliency", "Saliency"
        GRADCAM = "gradcam", "Grad-CAM"

    alert = models.ForeignKey("labeling.Alert", on_delete=models.CASCADE, related_name="explanations")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="explanations")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # float16, zlib-compressed; saliency is 63x63x3 (per channel), Grad-CAM 63x63.
    data = models.BinaryField()
    shape = models.JSONField()
    computed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["alert", "version", "kind"], name="explanation_unique")]


class TrainingRun(models.Model):
    """One (re)training, from trigger to registered version. Progress events are appended to ``progress``
    and pushed to the ML lead's page over the websocket."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        DIVERGED = "diverged", "Diverged (NaN loss)"

    task = models.CharField(max_length=16, choices=Task.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="training_runs"
    )
    triggered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    trigger = models.CharField(max_length=32, default="manual", help_text="manual, auto, command, starter")
    options = models.JSONField(default=dict, blank=True)
    task_result_id = models.CharField(max_length=64, blank=True, help_text="django-tasks result id")
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    progress = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="training_runs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two triggers at once make one training: the second insert fails on this index.
            models.UniqueConstraint(
                fields=["task"], condition=Q(status__in=["queued", "running"]), name="training_one_in_flight_per_task"
            )
        ]


class DriftNight(models.Model):
    """Night-by-night distribution summaries of the active model's score and of key inputs, with drift
    statistics against a reference window; computed in the background after ingest."""

    task = models.CharField(max_length=16, choices=Task.choices)
    version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="drift_nights"
    )
    night = models.DateField(db_index=True)
    n_alerts = models.PositiveIntegerField()
    # {"score": {"max":..,"p93":..,...,"min":..}, "magpsf": {...}, ...}
    percentiles = models.JSONField(default=dict)
    # {"score": {"psi": .., "ks": ..}, "fwhm": {...}}
    statistics = models.JSONField(default=dict)
    agreement = models.FloatField(null=True, blank=True, help_text="Volunteer consensus agreement with the model")
    flagged = models.BooleanField(default=False, db_index=True)
    flagged_reasons = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["night"]
        constraints = [models.UniqueConstraint(fields=["task", "version", "night"], name="drift_night_unique")]


class ReferenceSet(models.Model):
    """A named evaluation set every candidate is scored on when its training ends, and that may guard promotion."""

    class Kind(models.TextChoices):
        GOLD = "gold", "A campaign's gold subjects (expert answers)"
        # drb is the score of ZTF's deployed braai: agreement with it is agreement with a model, not human truth.
        BRAAI_AGREEMENT = "braai_agreement", "Agreement with braai's drb (a model's opinion, not human labels)"
        # Built in, one per task (never named by hand): the fixed held-out objects every run leaves out of its
        # training, so every version's headline figure is measured on the same alerts.
        HELDOUT = "heldout", "The fixed held-out set (known truth, never trained on)"

    name = models.CharField(max_length=100, unique=True)
    task = models.CharField(max_length=16, choices=Task.choices, default=Task.REAL_BOGUS)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    guards_promotion = models.BooleanField(default=True)
    # A candidate whose ROC AUC on this set is below the active version's by more than this is not promoted.
    margin = models.FloatField(default=0.02)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class VersionEvaluation(models.Model):
    """One version's figures on one reference set, computed once and shown by every page."""

    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    reference_set = models.ForeignKey(ReferenceSet, on_delete=models.CASCADE, related_name="evaluations")
    metrics = models.JSONField(default=dict)
    # Which alerts and labels the figures were computed on: two versions compare only on the same fingerprint.
    fingerprint = models.CharField(max_length=64, blank=True)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["version", "reference_set"], name="version_evaluation_unique"),
        ]
