"""Websocket routes (Channels): every module under frontend/consumers/ contributes ``websocket_urlpatterns``."""

import importlib

AREAS = ("classify", "training")

websocket_urlpatterns: list = []
for _area in AREAS:
    try:
        _module = importlib.import_module(f"frontend.consumers.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"frontend.consumers.{_area}":
            raise
        continue
    websocket_urlpatterns += _module.websocket_urlpatterns
