from django.apps import AppConfig


class FrontendConfig(AppConfig):
    name = "frontend"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from frontend import receivers  # noqa: F401  (connects the receivers)
