"""API routes of the labeling app: every module under labeling/api/ contributes its ``urlpatterns``."""

import importlib

AREAS = ("alerts", "campaigns", "classify", "talk", "backups")

urlpatterns: list = []
for _area in AREAS:
    try:
        _module = importlib.import_module(f"labeling.api.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"labeling.api.{_area}":
            raise
        continue
    urlpatterns += _module.urlpatterns
