"""API routes of the classifiers app: every module under classifiers/api/ contributes its ``urlpatterns``."""

import importlib

AREAS = ("registry", "scores", "console")

urlpatterns: list = []
for _area in AREAS:
    try:
        _module = importlib.import_module(f"classifiers.api.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"classifiers.api.{_area}":
            raise
        continue
    urlpatterns += _module.urlpatterns
