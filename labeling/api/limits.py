"""Body ceilings of single endpoints, far below the site-wide one of ``frontend.middleware``: a vote or a
comment is a few hundred bytes, so a body much larger is refused from its declared length, before DRF parses
it."""

from __future__ import annotations


def declared_length_over(request, limit: int) -> int | None:
    """The request's declared body length when it is over ``limit``; None when it is not (an unreadable
    Content-Length is the middleware's to refuse)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return length if length > limit else None
