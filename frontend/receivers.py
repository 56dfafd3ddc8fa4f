"""Receivers of the named signals of the floors below, connected in ``FrontendConfig.ready()``."""

import asyncio
import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.dispatch import receiver

from classifiers.signals import drift_recomputed, run_event, version_activated
from frontend.consumers.groups import TRAINING_GROUP
from labeling.live import publish_model_live

log = logging.getLogger(__name__)

# A training must not wait on a slow or absent channel layer: the page falls back to polling the runs.
RUN_EVENT_SEND_TIMEOUT_S = 1.0


async def _send_run_event(event: dict) -> None:
    layer = get_channel_layer()
    if layer is not None:
        message = {"type": "run.event", "event": event}
        await asyncio.wait_for(layer.group_send(TRAINING_GROUP, message), timeout=RUN_EVENT_SEND_TIMEOUT_S)


@receiver(run_event)
def relay_run_event(sender, *, run, event, **kwargs):
    """Every recorded event of a training run, to the ML leads' ``ws/training/`` sockets."""
    try:
        async_to_sync(_send_run_event)(event)
    except Exception as exc:  # noqa: BLE001 - the run goes on without its live page
        log.warning("event %s of run %s not relayed: %s", event.get("phase"), run.pk, exc or type(exc).__name__)


@receiver(version_activated)
def announce_model_live(sender, *, version, **kwargs):
    """Tell the open classify pages that scores and queue order now come from another version."""
    publish_model_live(task=version.task, version=version.version)


@receiver(drift_recomputed)
def warm_drift_figures(sender, **kwargs):
    """Build the drift page's figures once per recompute, in the worker that recomputed, not in a page load."""
    # Imported here: bokeh is only needed by the worker that recomputed drift, not by every process that starts.
    from frontend.plots.console import warm_drift_plots

    warm_drift_plots()
