"""The templates hold no inline script, event-handler attribute or javascript: URL (so the strict CSP costs
nothing), and every form they post carries its CSRF token."""

from __future__ import annotations

import re

from tests.security.csp_checks import (
    EVENT_ATTR,
    JS_URL,
    ROOT,
    TAG,
    TEMPLATES_DIR,
    inline_scripts,
    template_files,
)


def test_the_template_scanner_catches_what_it_should():
    hostile = (
        '<script>alert(1)</script><div onclick="x()"></div><a href="javascript:x()">'
        '<img src=x onerror=alert(1)><script type="text/javascript">y()</script>'
    )
    assert len(inline_scripts(hostile)) == 2
    assert len([t for t in TAG.findall(hostile) if EVENT_ATTR.search(t)]) == 2
    assert JS_URL.search(hostile)
    benign = (
        '<script src="/static/x.js"></script><script type="application/json" id="d">{}</script>'
        '<p>Done &amp; Talk: one=two</p><button data-on="x" class="btn-online">Go</button>'
    )
    assert inline_scripts(benign) == []
    assert [t for t in TAG.findall(benign) if EVENT_ATTR.search(t)] == []


def test_no_template_has_inline_script_or_event_handler_attributes():
    problems = []
    for path in template_files():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        for tag in inline_scripts(text):
            problems.append(f"{rel}: inline script {tag!r}")
        for tag in TAG.findall(text):
            if EVENT_ATTR.search(tag):
                problems.append(f"{rel}: event-handler attribute in {tag[:120]!r}")
        if JS_URL.search(text):
            problems.append(f"{rel}: javascript: URL")
    assert template_files(), f"no templates found under {TEMPLATES_DIR}"
    assert problems == [], "\n".join(problems)


def test_every_post_form_in_the_templates_carries_its_csrf_token():
    """Forms posted by the browser need {% csrf_token %} inside them (JS-driven forms send the token in a
    header from the cookie or the page's csrf holder, and are checked by the API tests)."""
    missing = []
    for path in template_files():
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r"<form\b([^>]*)>(.*?)</form>", text, re.DOTALL | re.IGNORECASE):
            attrs, body = m.group(1), m.group(2)
            if re.search(r"""method\s*=\s*["']?post""", attrs, re.IGNORECASE) and "{% csrf_token %}" not in body:
                missing.append(f"{path.relative_to(ROOT)}: <form{attrs[:80]}>")
    assert missing == [], "\n".join(missing)
