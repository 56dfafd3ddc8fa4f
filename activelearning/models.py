"""Active-learning state lives on labeling.Subject (priority, random_key) and classifiers.TrainingRun;
this app keeps the record of each queue reordering so the ML lead can see when the order changed."""

from __future__ import annotations

from django.db import models


class QueueOrdering(models.Model):
    campaign = models.ForeignKey("labeling.Campaign", on_delete=models.CASCADE, related_name="queue_orderings")
    version = models.ForeignKey(
        "classifiers.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    strategy = models.CharField(max_length=16)
    n_subjects = models.PositiveIntegerField()
    duration_ms = models.FloatField()
    computed_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-computed_at"]
