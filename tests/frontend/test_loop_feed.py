"""The loop page says how it is kept up to date: "live" only when the channel layer is shared between processes
(Redis carries the worker's events to daphne's sockets); otherwise it follows the runs' stored events and says
so. The browser side of it is in test_loop.py and tests/makerun/."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# Building a Redis layer connects to nothing: enough to ask which kind of layer the site has.
REDIS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://127.0.0.1:1"]}}}


@pytest.fixture
def layer(settings):
    from channels.layers import channel_layers

    def use(config):
        settings.CHANNEL_LAYERS = config
        channel_layers.backends.clear()

    yield use
    channel_layers.backends.clear()


def badge(html: str) -> str:
    return re.search(r'<span id="live-state"[^>]*>([^<]*)</span>', html).group(1)


def test_without_a_shared_layer_the_page_follows_the_stored_events_and_never_says_live(layer, client_for, mllead):
    layer(IN_MEMORY)
    html = client_for(mllead).get(reverse("ml-loop")).content.decode()
    assert 'data-live-layer="process"' in html
    assert 'data-state="following"' in html
    assert badge(html) == "following the runs, updated every second"
    assert "live" not in badge(html)


def test_with_a_shared_layer_the_page_goes_live_over_the_websocket(layer, client_for, mllead):
    layer(REDIS)
    html = client_for(mllead).get(reverse("ml-loop")).content.decode()
    assert 'data-live-layer="shared"' in html
    assert 'data-state="connecting"' in html
