from django.apps import AppConfig


class ActivelearningConfig(AppConfig):
    name = "activelearning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from activelearning import receivers  # noqa: F401  (connects the receivers)
