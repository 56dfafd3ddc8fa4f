"""API routes of the activelearning app: every module under activelearning/api/ contributes ``urlpatterns``."""

import importlib

AREAS = ("loop",)

urlpatterns: list = []
for _area in AREAS:
    try:
        _module = importlib.import_module(f"activelearning.api.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"activelearning.api.{_area}":
            raise
        continue
    urlpatterns += _module.urlpatterns
