"""Text the database cannot store, refused once for every form and JSON body, naming the field.

PostgreSQL text holds neither NUL characters nor lone UTF-16 surrogates (``"\\ud800"`` in JSON decodes to one; it
has no UTF-8 form). DRF's ``CharField`` refuses NUL, but a form read with ``request.POST.get``, a JSON field
holding nested text (a campaign's class labels) or a service called with raw text would pass them on, and the
database would answer a 500. Checked here, before any view, so every path gets the same 400.

Cheap on the hot path: a JSON or urlencoded body is scanned for the escapes (``\\u0000``, ``\\ud8..``, ``%00``)
first, and parsed only when one is there. Of a multipart body only the text fields are looked at: files may hold
any byte.
"""

from __future__ import annotations

import json
import re

from django.http import HttpResponse
from django.http.multipartparser import MultiPartParserError

from core.errors import refusal, wants_json

_JSON_SUSPECT = re.compile(rb"\\u0000|\\u[dD][89a-fA-F]|\x00")
_FORM_SUSPECT = re.compile(rb"%00|\x00")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
BODY_METHODS = {"POST", "PUT", "PATCH"}


def _first_unstorable(value, path: tuple[str, ...] = ()) -> str | None:
    """The dotted path of the first string (value or key) in a parsed JSON value that cannot be stored."""
    if isinstance(value, str):
        return ".".join(path) or "body" if _UNSTORABLE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = (*path, str(key)[:64])
            if _UNSTORABLE.search(str(key)):
                return ".".join(here)
            if (found := _first_unstorable(item, here)) is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            if (found := _first_unstorable(item, (*path, str(index)))) is not None:
                return found
    return None


def unstorable_field(request) -> str | None:
    """The field of a JSON or form body holding text the database cannot store; None when there is none."""
    if request.method not in BODY_METHODS:
        return None
    content_type = request.content_type or ""
    if content_type == "application/json" or content_type.endswith("+json"):
        body = request.body
        if not _JSON_SUSPECT.search(body):
            return None
        try:
            return _first_unstorable(json.loads(body))
        except (ValueError, RecursionError):
            return None  # the parser refuses it with its own message
    if content_type == "multipart/form-data" and request.method == "POST" and not request.path.startswith("/api/"):
        # A page's form, parsed here once (the view reuses request.POST and request.FILES); only the text fields
        # are looked at, files may hold any byte. An API view chooses its own parsers (DRF's CharField refuses
        # NUL; a JSON-only view answers 415), so its stream is left for it to read.
        return _form_field_with_nul(request)
    if content_type == "application/x-www-form-urlencoded":
        if not _FORM_SUSPECT.search(request.body):
            return None
        return _form_field_with_nul(request)
    return None


def _form_field_with_nul(request) -> str | None:
    try:
        fields = request.POST.lists()
    except MultiPartParserError:
        return None  # a broken multipart body: the view or DRF's parser answers it as before
    for key, values in fields:
        if "\x00" in key or any("\x00" in v for v in values):
            return key.replace("\x00", "")[:64] or "body"
    return None


def refuse_unstorable(request, field: str) -> HttpResponse:
    message = f"{field}: NUL characters and lone surrogates cannot be stored; remove them and send again."
    if wants_json(request):
        return refusal(message, status=400, code="invalid", field=field)
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
