"""The API's exception handler: DRF's own, plus one case it misses.

Python's json module raises RecursionError (not ValueError) on deeply nested input, so DRF's JSONParser lets
``[[[[...]]]]`` — 2,000 brackets fit in a 4 kB vote — escape as a 500. A RecursionError raised while a
parser reads the body is the client's fault: it becomes a 400 like any other malformed JSON.
"""

from __future__ import annotations

import traceback

from rest_framework.exceptions import ParseError
from rest_framework.views import exception_handler as drf_exception_handler


def _raised_while_parsing(exc: BaseException) -> bool:
    return any(
        frame.f_code.co_filename.replace("\\", "/").endswith("rest_framework/parsers.py")
        for frame, _ in traceback.walk_tb(exc.__traceback__)
    )


def exception_handler(exc, context):
    if isinstance(exc, RecursionError) and _raised_while_parsing(exc):
        exc = ParseError("JSON parse error - the body is nested too deeply")
    return drf_exception_handler(exc, context)
