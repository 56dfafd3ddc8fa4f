from django.apps import AppConfig
from django.core import checks

from core.conf import check_settings


class CoreConfig(AppConfig):
    """What every app uses: roles, the session/auth pieces, row helpers, API errors, URLs and settings."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        checks.register(blink_settings_check)


def blink_settings_check(app_configs, **kwargs):
    """A malformed ``BLINK_*`` environment variable stops ``manage.py check`` and start-up, not a request."""
    return [checks.Error(problem, id="blink.E001") for problem in check_settings()]
