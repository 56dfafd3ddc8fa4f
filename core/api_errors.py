"""Every API refusal in the one shape of ``core.errors``: DRF's exception handler, and JSON 404/500 pages.

DRF answers its errors in several shapes (``{"detail": ...}``, validation's ``{"<field>": ["msg"]}``, lists);
:func:`exception_handler` keeps DRF's status and headers (``WWW-Authenticate``, ``Retry-After``) and rewrites
the body to ``{"detail", "code", "field"}``. A validation error names its first field and message: a form
shows one message at a time, and a client fixes one input per round trip anyway. A ``ServiceError`` raised by
a service becomes its own refusal, so views need not catch it.

Python's json module raises RecursionError (not ValueError) on deeply nested input, so DRF's JSONParser lets
``[[[[...]]]]`` — 2,000 brackets fit in a 4 kB vote — escape as a 500. A RecursionError raised while a
parser reads the body is the client's fault: it becomes a 400 like any other malformed JSON.

A database that cannot be reached (restarting, failing over) is a 503 with ``Retry-After``, not a 500: the
classify page's outbox and queue retry it, and nothing was stored by the request that met it.
"""

from __future__ import annotations

import logging
import traceback

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DataError, InterfaceError, OperationalError
from django.http import Http404
from django.views.defaults import page_not_found as django_page_not_found
from django.views.defaults import server_error as django_server_error
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from core.errors import ServiceError, refusal, refusal_body

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 2
# Keys DRF uses for errors that belong to no one input.
NO_FIELD = {"detail", "non_field_errors"}


class DatabaseUnavailable(exceptions.APIException):
    status_code = 503
    default_detail = "The database is unavailable for a moment; nothing was stored. Retry shortly."
    default_code = "unavailable"


def _raised_while_parsing(exc: BaseException) -> bool:
    return any(
        frame.f_code.co_filename.replace("\\", "/").endswith("rest_framework/parsers.py")
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def first_error(detail, path: tuple[str, ...] = ()) -> tuple[str | None, str, str]:
    """(field, message, code) of the first error in a DRF error detail, however nested.

    Nested serializers and list items give dotted fields (``tutorial.0.title``)."""
    if isinstance(detail, dict):
        key, value = next(iter(detail.items()), (None, ""))
        return first_error(value, path if key is None or key in NO_FIELD else (*path, str(key)))
    if isinstance(detail, list):
        for index, item in enumerate(detail):
            if item or item == 0:
                return first_error(item, (*path, str(index)) if isinstance(item, dict | list) else path)
        return first_error("", path)
    code = getattr(detail, "code", None) or "invalid"
    return (".".join(path) or None), str(detail), code


def _as_drf(exc):
    """Translate what the stack raises into DRF exceptions, as DRF's own handler does."""
    if isinstance(exc, OperationalError | InterfaceError):
        logger.warning("API request met an unreachable database: %s", exc)
        return DatabaseUnavailable()
    if isinstance(exc, RecursionError) and _raised_while_parsing(exc):
        return exceptions.ParseError("JSON parse error - the body is nested too deeply")
    if isinstance(exc, DataError):
        # A value the database cannot hold (a NUL character in text, a number beyond its column) came from
        # the request; the statement failed and its transaction was rolled back, so nothing was stored.
        logger.warning("API request refused by the database: %s", exc)
        return exceptions.ValidationError(f"a value cannot be stored: {str(exc).splitlines()[0][:200]}")
    if isinstance(exc, Http404):
        return exceptions.NotFound(*exc.args)
    if isinstance(exc, DjangoPermissionDenied):
        return exceptions.PermissionDenied(*exc.args)
    return exc


def exception_handler(exc, context):
    if isinstance(exc, ServiceError):
        set_rollback()
        response = Response(exc.as_body(), status=exc.status)
        if getattr(exc, "retry_after", None):  # a rate limit (core.ratelimit) says when to come back
            response["Retry-After"] = str(exc.retry_after)
        return response
    exc = _as_drf(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # not an API error: a 500, answered by server_error below
    field, message, code = first_error(exc.detail)
    response.data = refusal_body(message, code=code, field=field)
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = str(RETRY_AFTER_S)
    return response


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """``handler404``: a URL under /api/ that matches no route answers JSON like every other API refusal."""
    if _is_api(request):
        return refusal("Not found.", status=404)
    return django_page_not_found(request, exception)


def server_error(request):
    """``handler500``: JSON under /api/, Django's page elsewhere."""
    if _is_api(request):
        return refusal("Server error.", status=500)
    return django_server_error(request)
