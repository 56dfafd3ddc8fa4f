"""Request-size ceiling (and text the database can store), checked before any view reads the body.

Django enforces ``DATA_UPLOAD_MAX_MEMORY_SIZE`` only when ``request.body`` or a form is parsed; DRF's JSON
parser reads the request as a stream and never looks at it, so a 1 GB JSON vote would be parsed whole.
This middleware refuses, from the declared Content-Length, any body over the limit with 413 — JSON for
the API, a short page elsewhere — so no view, parser or service sees it. A reverse proxy in front
(``client_max_body_size``) is still the first line in production; this one keeps the app honest alone.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse

from core.conf import blink_setting
from core.errors import refusal, wants_json
from frontend.storable_text import refuse_unstorable, unstorable_field


def _limit_for(request) -> int:
    if request.content_type == "multipart/form-data":
        return blink_setting("MAX_UPLOAD_BYTES")
    return int(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2 * 1024 * 1024)


class RequestSizeLimitMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return self._refuse(request, 400, f"Content-Length {raw[:40]!r} is not a number.")
        if length < 0:
            return self._refuse(request, 400, "Content-Length is negative.")
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            # PostgreSQL text cannot hold NUL: refused here rather than as a database error in some view.
            return self._refuse(request, 400, "NUL characters are not allowed in URLs or query parameters.")
        limit = _limit_for(request)
        if length > limit:
            return self._refuse(
                request, 413, f"Request body of {length} bytes is over the limit of {limit} bytes for this request."
            )
        if (field := unstorable_field(request)) is not None:
            return refuse_unstorable(request, field)
        return self.get_response(request)

    @staticmethod
    def _refuse(request, status: int, message: str):
        if wants_json(request):
            return refusal(message, status=status)
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
