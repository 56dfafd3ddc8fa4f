"""Top-level URL map. Each app owns its URLs; the API lives under /api/ and the pages at the root."""

from django.contrib import admin
from django.urls import include, path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

import activelearning.api_urls
import classifiers.api_urls
import frontend.urls
import labeling.api_urls
from core import api_errors
from core.roles import public

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", public(SpectacularAPIView.as_view()), name="api-schema"),
    # The split view serves Swagger UI's start-up script from a URL (?script) instead of inline: the CSP
    # allows no inline script.
    path("api/docs/", public(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/redoc/", public(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
    path("api/", include(labeling.api_urls)),
    path("api/", include(classifiers.api_urls)),
    path("api/", include(activelearning.api_urls)),
    path("", include(frontend.urls)),
]

# Pages answer errors with the site's own templates (frontend/templates/400.html, 403.html, 404.html, 500.html, all
# in the site's frame with its navigation); API clients get JSON for unknown URLs and server errors.
handler400 = defaults.bad_request
handler403 = defaults.permission_denied
handler404 = api_errors.page_not_found
handler500 = api_errors.server_error
