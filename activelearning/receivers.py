"""Receivers of the named signals of the floors below, connected in ``ActivelearningConfig.ready()``."""

import logging

from django.dispatch import receiver

from activelearning import policy, tasks
from classifiers.signals import version_activated
from labeling.signals import labels_changed

log = logging.getLogger(__name__)


@receiver(labels_changed)
def count_towards_retraining(sender, *, campaign, **kwargs):
    """A retired subject is a new consensus label: it counts towards the campaign's automatic retraining."""
    policy.count_new_label(campaign)


@receiver(version_activated)
def rescore_and_reorder_after_activation(sender, *, version, run=None, **kwargs):
    """Whoever promoted (a run, the ML lead, a rollback), the pool is rescored and the queues reordered."""
    try:
        tasks.request_rescore(version, run)
    except Exception:  # noqa: BLE001 - the promotion has committed; the ML lead can reorder by hand
        log.exception("rescoring after the activation of %s not queued", version.label)
