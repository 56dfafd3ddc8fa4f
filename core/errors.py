"""One shape for every refusal Blink's API answers, and the one exception services raise to refuse.

Every refusal body is ``{"detail": <message for a person>, "code": <machine code>, "field": <input at fault or
null>}``: DRF's own errors (validation, authentication, permissions, unknown objects, throttling), the role
guard, the request-size middleware, the JSON 404/500 handlers and every service refusal. ``detail`` stays the
key the pages' scripts and API clients read; ``code`` lets a client branch without parsing English; ``field``
lets a form put the message beside the input.

A service refuses by raising :class:`ServiceError` (or a subclass naming its domain: ``VoteRefused``,
``FilterError`` ...). API views do not catch it: ``core.api_errors.exception_handler`` turns it into the
response, so a view reads as the happy path.
"""

from __future__ import annotations

from django.http import JsonResponse

# The machine code a refusal gets when its raiser names none, by HTTP status (DRF's codes where DRF has one).
DEFAULT_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "unavailable",
}


def default_code(status: int) -> str:
    return DEFAULT_CODES.get(status, "invalid" if status < 500 else "server_error")


class ServiceError(Exception):
    """A request a service refuses: why (for a person), which input (``field``), a machine ``code``, a status.

    Subclasses set ``status`` and ``code`` as class attributes when all their refusals share them (a conflict is
    409); a raiser may still pass its own.
    """

    status: int = 400
    code: str | None = None

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field or None
        if status is not None:
            self.status = status
        self.code = code or self.code or default_code(self.status)

    def as_body(self) -> dict:
        return refusal_body(self.message, code=self.code, field=self.field)


def refusal_body(detail: str, *, code: str, field: str | None = None) -> dict:
    """The body of every refusal."""
    return {"detail": str(detail), "code": code, "field": field or None}


def wants_json(request) -> bool:
    """Whether a refusal outside DRF answers JSON: always under /api/, elsewhere when the client asks for it."""
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def refusal(detail: str, *, status: int = 400, code: str | None = None, field: str | None = None) -> JsonResponse:
    """A refusal as a response, for code outside DRF's exception handling (middleware, decorators, handlers)
    and for the few views that answer a refusal without raising."""
    return JsonResponse(refusal_body(detail, code=code or default_code(status), field=field), status=status)
