"""Page routes: each module under frontend/views/ lists the routes of its pages."""

from frontend.views import accounts, alerts, campaigns, classify, console, loop, reference_sets, talk

urlpatterns = [
    *accounts.urlpatterns,
    *alerts.urlpatterns,
    *classify.urlpatterns,
    *talk.urlpatterns,
    *campaigns.urlpatterns,
    *loop.urlpatterns,
    *console.urlpatterns,
    *reference_sets.urlpatterns,
]
