"""Checks of the strict Content-Security-Policy: the header a response sends, and the templates, where script the
browser would run inline (which that policy forbids) must not appear."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
TEMPLATES_DIR = ROOT / "frontend" / "templates"

SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
TAG = re.compile(r"<[a-zA-Z][^<>]*>", re.DOTALL)
EVENT_ATTR = re.compile(r"""[\s"'/]on[a-z]+\s*=""", re.IGNORECASE)
JS_URL = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def inline_scripts(html: str) -> list[str]:
    found = []
    for m in SCRIPT_TAG.finditer(html):
        attrs = m.group(1)
        if re.search(r"\bsrc\s*=", attrs, re.IGNORECASE):
            continue
        if re.search(r"""\btype\s*=\s*["']?application/(ld\+)?json""", attrs, re.IGNORECASE):
            continue
        found.append(m.group(0))
    return found


def template_files() -> list[Path]:
    return sorted(TEMPLATES_DIR.rglob("*.html"))


def _script_src(header: str) -> list[str]:
    for directive in header.split(";"):
        parts = directive.split()
        if parts and parts[0] == "script-src":
            return parts[1:]
    return []


def assert_strict_csp(response, where: str) -> None:
    header = response.get("Content-Security-Policy")
    assert header, f"{where}: no Content-Security-Policy header"
    sources = _script_src(header) or next(
        (d.split()[1:] for d in header.split(";") if d.split()[:1] == ["default-src"]), []
    )
    assert sources, f"{where}: CSP has neither script-src nor default-src: {header}"
    assert "'unsafe-inline'" not in sources, f"{where}: script-src allows inline script: {header}"
    assert "'unsafe-eval'" not in sources, f"{where}: script-src allows eval: {header}"
    assert "*" not in sources, f"{where}: script-src allows any origin: {header}"
