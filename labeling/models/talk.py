"""Talk: a discussion thread per candidate (alert), as on Zooniverse."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from labeling.models.alerts import Alert


class Comment(models.Model):
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="comments")
    # The raw text is kept; the HTML is rendered once through a sanitiser (labeling.talk) and only that is shown.
    body = models.TextField(max_length=5000)
    body_html = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    campaign = models.ForeignKey(
        "labeling.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["created_at"]


class Hashtag(models.Model):
    name = models.CharField(max_length=64, unique=True)
    comments = models.ManyToManyField(Comment, related_name="hashtags")

    def __str__(self) -> str:
        return f"#{self.name}"
