"""Walk the whole URL conf: every pattern, its full route, name and view, DRF and admin included."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern


@dataclass(frozen=True)
class Route:
    route: str  # full pattern, e.g. "api/campaigns/<slug:slug>/votes/"
    name: str  # "namespace:name" or "" when unnamed
    callback: object
    converters: tuple[tuple[str, str], ...]  # ((kwarg, converter type), ...)
    is_regex: bool

    @property
    def view_class(self):
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def is_drf(self) -> bool:
        from rest_framework.views import APIView

        cls = self.view_class
        return isinstance(cls, type) and issubclass(cls, APIView)

    @property
    def is_admin(self) -> bool:
        return self.route.startswith("admin/")

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def key(self) -> str:
        return self.name or self.route


def _pattern_text(pattern) -> tuple[str, bool]:
    text = str(pattern.pattern)
    is_regex = isinstance(pattern.pattern, RegexPattern)
    if is_regex:
        text = text.lstrip("^").rstrip("$").replace("\\Z", "")
    return text, is_regex


def walk(resolver=None, prefix: str = "", namespace: str = "") -> list[Route]:
    resolver = resolver or get_resolver()
    routes: list[Route] = []
    for entry in resolver.url_patterns:
        text, is_regex = _pattern_text(entry)
        if isinstance(entry, URLResolver):
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            routes += walk(entry, prefix + text, ns)
        elif isinstance(entry, URLPattern):
            full = prefix + text
            name = f"{namespace}:{entry.name}" if namespace and entry.name else (entry.name or "")
            converters = tuple((m.group(2), m.group(1) or "str") for m in re.finditer(r"<(?:(\w+):)?(\w+)>", full))
            routes.append(Route(full, name, entry.callback, converters, is_regex or "(?P<" in full))
    return routes
