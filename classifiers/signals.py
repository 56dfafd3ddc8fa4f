"""What classifiers tells the floors above it, without importing them.

Higher apps connect receivers in their ``AppConfig.ready()``.
"""

from django.dispatch import Signal

# Sent once a model version became the active one of its task (promotion or rollback) and that has committed.
# ``version``: the ModelVersion; ``run``: the TrainingRun that promoted it, or None (the ML lead, a rollback).
version_activated = Signal()

# Sent for every recorded event of a training run. ``run``: the TrainingRun; ``event``: the event dict in the
# one format of classifiers.runs.events, e.g. {"run": 42, "phase": "running", "step": "epoch", "epoch": 3,
# "epochs": 8, "loss": 0.21, "val_loss": 0.25, "at": "…"}.
run_event = Signal()

# Sent after the background drift recompute stored its DriftNight rows. ``summary``: what recompute_drift
# returned ({"alerts": n, "tasks": [{"task", "version", "nights", "flagged"}, ...]}).
drift_recomputed = Signal()
