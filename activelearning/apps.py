from django.apps import AppConfig


class ActivelearningConfig(AppConfig):
    name = "activelearning"
    default_auto_field = "django.db.models.BigAutoField"
