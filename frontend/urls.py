"""Page routes: every module under frontend/views/ contributes its ``urlpatterns``."""

import importlib

AREAS = ("accounts", "alerts", "classify", "talk", "campaigns", "loop", "console")

urlpatterns: list = []
for _area in AREAS:
    try:
        _module = importlib.import_module(f"frontend.views.{_area}")
    except ModuleNotFoundError as exc:
        if exc.name != f"frontend.views.{_area}":
            raise
        continue
    urlpatterns += _module.urlpatterns
