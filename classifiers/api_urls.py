"""API routes of the classifiers app: each module under classifiers/api/ lists the routes of its area."""

from classifiers.api import campaigns, classify, console, reference_sets, registry, run_events, scores

urlpatterns = [
    *registry.urlpatterns,
    *run_events.urlpatterns,
    *reference_sets.urlpatterns,
    *scores.urlpatterns,
    *console.urlpatterns,
    *campaigns.urlpatterns,
    *classify.urlpatterns,
]
