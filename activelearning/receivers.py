"""Receivers of the named signals of the floors below, connected in ``ActivelearningConfig.ready()``.

``policy`` and ``tasks`` are imported when a signal arrives: through the queue they reach modAL, scikit-learn and
SciPy, which every process (commands, workers, web servers) would otherwise import at start-up.
"""

import logging

from django.dispatch import receiver

from classifiers.signals import version_activated
from labeling.signals import campaign_went_live, labels_changed

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


@receiver(campaign_went_live)
def order_the_queue_of_a_new_campaign(sender, *, campaign, **kwargs):
    """A campaign that just went live has subjects but no order: order its queue now (by the active model of its
    task, or at random without one) rather than at the next promotion, so the loop shows it ordered."""
    from activelearning import tasks

    try:
        tasks.request_reorder(campaign)
    except Exception:  # noqa: BLE001 - the campaign is live either way; the ML lead can reorder by hand
        log.exception("ordering the queue of the new campaign %s not queued", campaign.slug)
