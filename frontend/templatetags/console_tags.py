"""Number formatting for the ML console: a missing metric shows as a dash, never as an empty cell or 'None'."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def metric(value, digits: int = 3) -> str:
    """0.93712 -> '0.937'; None -> '–'."""
    if value is None or value == "":
        return "–"
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def signed(value, digits: int = 3) -> str:
    """A delta with its sign: +0.012, −0.004; None -> '–'."""
    if value is None:
        return "–"
    v = float(value)
    text = f"{abs(v):.{int(digits)}f}"
    return f"+{text}" if v > 0 else (f"−{text}" if v < 0 else text)


@register.filter
def percent(value, digits: int = 0) -> str:
    if value is None:
        return "–"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def get(mapping, key):
    """``mapping|get:key`` for dict lookups with a variable key."""
    if mapping is None:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None
