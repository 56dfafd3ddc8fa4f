"""Receivers of the named signals of the floors below, connected in ``ActivelearningConfig.ready()``.

``policy`` and ``tasks`` are imported when a signal arrives: through the queue they reach modAL, scikit-learn and
SciPy, which every process (commands, workers, web servers) would otherwise import at start-up.
"""

import logging

from django.dispatch import receiver

from classifiers.signals import version_activated
from labeling.signals import labels_changed

log = logging.getLogger(__name__)


@receiver(labels_changed)
def count_towards_retraining(sender, *, campaign, **kwargs):
    """A retired subject is a new consensus label: it counts towards the campaign's automatic retraining."""
    from activelearning import policy

    policy.count_new_label(campaign)


@receiver(version_activated)
def rescore_and_reorder_after_activation(sender, *, version, run=None, **kwargs):
    """Whoever promoted (a run, the ML lead, a rollback), the pool is rescored and the queues reordered."""
    from activelearning import tasks

    try:
        tasks.request_rescore(version, run)
    except Exception:  # noqa: BLE001 - the promotion has committed; the ML lead can reorder by hand
        log.exception("rescoring after the activation of %s not queued", version.label)
