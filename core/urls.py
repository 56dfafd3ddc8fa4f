"""Every URL Blink hands out, built by ``reverse()`` from the named routes.

Views, selectors and serializers call these; templates use ``{% url %}`` with the same names; the JavaScript
never builds a URL: pages hand it the ones it needs in data attributes. A route that moves changes in its
URL conf only.

This module sits on the lowest floor, so it names routes and never imports the apps that define them: callers
pass plain ids, slugs and kinds (the stamp kinds are labeling's, the explanation kinds classifiers').
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import urlencode

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.urls import reverse

# reverse() walks the URL conf on every call; the classify batch, Talk's rendered comments and the console's
# candidate lists ask for the same few URLs of each alert again and again, so the per-alert helpers keep their
# answers (a changed ROOT_URLCONF, in tests, empties them).
_CACHED = []


def _cached(function):
    cached = lru_cache(maxsize=8192)(function)
    _CACHED.append(cached)
    return cached


@receiver(setting_changed)
def _forget_urls(*, setting, **kwargs):
    if setting in ("ROOT_URLCONF", "FORCE_SCRIPT_NAME"):
        for cached in _CACHED:
            cached.cache_clear()


# ------------------------------------------------------------------------------------------------ alerts (API)


def _route(name: str, *params: str):
    """A (cached) builder of route ``name``'s URL from its parameters, given in the order ``params`` names."""

    def build(*args) -> str:
        return reverse(name, kwargs=dict(zip(params, args, strict=True)))

    build.__qualname__ = build.__name__ = name.replace("-", "_") + "_url"
    build.__doc__ = f"The URL of route {name!r} for ({', '.join(params)})."
    return _cached(build)


# One stamp PNG of an alert (kind: science, template or difference).
cutout_url = _route("api-alert-cutout", "candid", "kind")
alert_api_url = _route("api-alert", "candid")
lightcurve_url = _route("api-alert-lightcurve", "candid")
# The bokeh json_item of the alert's light curve.
lightcurve_plot_url = _route("api-alert-lightcurve-plot", "candid")


def cutout_urls(candid: int, kinds) -> dict[str, str]:
    return {kind: cutout_url(candid, kind) for kind in kinds}


@_cached
def explanation_url(candid: int, kind: str, version_id: int | None = None) -> str:
    """A model's explanation PNG of an alert (``kind``: gradcam, saliency); the active model's when no version
    is named."""
    url = reverse("api-alert-explanation", kwargs={"candid": candid, "kind": kind})
    return f"{url}?{urlencode({'version': version_id})}" if version_id is not None else url


# ---------------------------------------------------------------------------------------------------- pages

alert_page_url = _route("alert", "candid")
talk_thread_url = _route("talk-thread", "candid")
talk_tag_url = _route("talk-tag", "tag")
talk_object_url = _route("talk-object", "object_id")


def _urls_of(routes: dict[str, str], **params) -> dict[str, str]:
    """``{key: URL}`` of ``routes`` (``{key: route name}``) that take the same parameters."""
    return {key: reverse(name, kwargs=params) for key, name in routes.items()}


CAMPAIGN_PAGES = {
    "classify": "classify",
    "builder": "campaigns-edit",
    "inspect": "campaigns-inspect",
    "dashboard": "campaigns-dashboard",
}
# The endpoints the classify page's script calls, handed to it in its data block.
CLASSIFY_API = {
    "next": "classify-next",
    "votes": "classify-vote",
    "progress": "classify-progress",
    "tutorial_seen": "classify-tutorial-seen",
}
# The endpoints the campaign builder's script calls for one campaign, handed to it in its data block.
CAMPAIGN_API = {
    "campaign": "api-campaign",
    "state": "api-campaign-state",
    "add_matching": "api-campaign-add-matching",
    "tutorial": "api-campaign-tutorial",
    "field_guide": "api-campaign-field-guide",
}


def campaign_page_urls(slug: str) -> dict[str, str]:
    """The pages a scientist opens for one campaign."""
    return _urls_of(CAMPAIGN_PAGES, slug=slug)


def classify_api_urls(slug: str) -> dict[str, str]:
    return _urls_of(CLASSIFY_API, slug=slug)


def campaign_api_urls(slug: str) -> dict[str, str]:
    return _urls_of(CAMPAIGN_API, slug=slug)


# One tutorial step or field-guide entry, as the campaign API lists them (each item carries its own URL).
tutorial_step_api_url = _route("api-campaign-tutorial-step", "slug", "pk")
field_guide_entry_api_url = _route("api-campaign-field-guide-entry", "slug", "pk")


# A training run's stored events after a given number: what the loop page follows without a shared channel layer.
training_run_events_url = _route("api-training-run-events", "pk")


def campaign_live_socket_path(slug: str) -> str:
    """The websocket path of a campaign's live updates (Channels routes cannot be reversed)."""
    return f"/ws/campaigns/{slug}/"


TRAINING_SOCKET_PATH = "/ws/training/"
