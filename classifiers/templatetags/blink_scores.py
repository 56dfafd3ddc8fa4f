"""``{% load blink_scores %}{% score_panel alert %}``: the model's score and explanation overlays of an alert.

Renders nothing when no active model has scored the alert, so any page can include it unconditionally."""

from __future__ import annotations

import logging

from django import template

from classifiers.selectors import score_panel as panel_of

register = template.Library()
log = logging.getLogger(__name__)


@register.inclusion_tag("frontend/classifiers/score_panel.html")
def score_panel(alert):
    try:
        panel = panel_of(alert) if alert is not None else None
    except Exception:  # the score is a help, never a reason for a page to fail
        log.exception("score panel unavailable for alert %s", getattr(alert, "pk", None))
        panel = None
    return {"panel": panel, "alert": alert}
