"""API routes of the labeling app: each module under labeling/api/ lists the routes of its area."""

from labeling.api import alerts, campaigns, classify, talk

urlpatterns = [*alerts.urlpatterns, *campaigns.urlpatterns, *classify.urlpatterns, *talk.urlpatterns]
