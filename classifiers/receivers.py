"""Receivers of the named signals of the floors below, connected in ``ClassifiersConfig.ready()``."""

from django.dispatch import receiver

from labeling.signals import alerts_ingested


# The imports below stay inside the receivers: this module is imported by every process that sets Django
# up, and scoring and drift bring numpy-heavy modules that an ingest without new alerts never needs.
@receiver(alerts_ingested)
def score_ingested_alerts(sender, *, alert_ids, **kwargs):
    """Score the new alerts with the active version of each task of their own survey (ZTF's braai never scores a
    Rubin alert, nor the reverse), here and now (nothing when no model is active)."""
    from classifiers.scoring import score_new_alerts

    score_new_alerts(alert_ids)


@receiver(alerts_ingested)
def queue_drift_after_ingest(sender, *, alert_ids, **kwargs):
    """Queue the ML console's night-by-night drift recompute (a background task; one waiting suffices)."""
    from classifiers.drift.recompute import enqueue_drift_recompute

    enqueue_drift_recompute()
