"""Error answers of the API: DRF's exception handler plus the cases it misses, and JSON 404/500 pages.

Python's json module raises RecursionError (not ValueError) on deeply nested input, so DRF's JSONParser lets
``[[[[...]]]]`` — 2,000 brackets fit in a 4 kB vote — escape as a 500. A RecursionError raised while a
parser reads the body is the client's fault: it becomes a 400 like any other malformed JSON.

A database that cannot be reached (restarting, failing over) is a 503 with ``Retry-After``, not a 500: the
classify page's outbox and queue retry it, and nothing was stored by the request that met it.
"""

from __future__ import annotations

import logging
import traceback

from django.db import DataError, InterfaceError, OperationalError
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


def _raised_while_parsing(exc: BaseException) -> bool:
    return any(
        frame.f_code.co_filename.replace("\\", "/").endswith("rest_framework/parsers.py")
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


RETRY_AFTER_S = 2


class DatabaseUnavailable(APIException):
    status_code = 503
    default_detail = "The database is unavailable for a moment; nothing was stored. Retry shortly."
    default_code = "unavailable"


def exception_handler(exc, context):
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("API request met an unreachable database: %s", exc)
        response = drf_exception_handler(DatabaseUnavailable(), context)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
    if isinstance(exc, RecursionError) and _raised_while_parsing(exc):
        exc = ParseError("JSON parse error - the body is nested too deeply")
    elif isinstance(exc, DataError):
        # A value the database cannot hold (a NUL character in text, a number beyond its column) came from
        # the request; the statement failed and its transaction was rolled back, so nothing was stored.
        logger.warning("API request refused by the database: %s", exc)
        exc = ValidationError({"detail": f"a value cannot be stored: {str(exc).splitlines()[0][:200]}"})
    return drf_exception_handler(exc, context)


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """``handler404``: a URL under /api/ that matches no route answers JSON like every other API refusal."""
    if _is_api(request):
        from django.http import JsonResponse

        return JsonResponse({"detail": "Not found."}, status=404)
    from django.views.defaults import page_not_found as default

    return default(request, exception)


def server_error(request):
    """``handler500``: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        from django.http import JsonResponse

        return JsonResponse({"detail": "Server error."}, status=500)
    from django.views.defaults import server_error as default

    return default(request)
