from django.apps import AppConfig


class CoreConfig(AppConfig):
    """What every app uses: roles, the session/auth pieces, row helpers, API errors, URLs and settings."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
