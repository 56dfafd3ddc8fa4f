"""Every HTML page sends a strict Content-Security-Policy: no inline script, no eval, no origin wildcard."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.security.csp_checks import assert_strict_csp, inline_scripts
from tests.security.urlwalk import walk


@pytest.mark.django_db
def test_every_html_page_without_arguments_sends_a_strict_csp(admin_user):
    """Every page route that needs no URL argument, fetched as an admin (who may open them all)."""
    c = Client()
    c.force_login(admin_user)
    checked = []
    for r in walk():
        if r.converters or r.is_regex or r.is_drf and r.route == "api/schema/":
            continue
        response = c.get("/" + r.route)
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            continue
        assert_strict_csp(response, "/" + r.route)
        checked.append(r.route)
    # The login page, the home page, the API docs and the admin at the least.
    assert {"", "api/docs/", "admin/"} <= set(checked), checked


@pytest.mark.django_db
def test_the_anonymous_pages_send_a_strict_csp():
    c = Client()
    for url in ("/accounts/login/", "/accounts/signup/"):
        response = c.get(url)
        assert response.status_code == 200
        assert_strict_csp(response, url)


@pytest.mark.django_db
def test_the_api_docs_page_loads_its_script_from_a_url_not_inline(volunteer):
    c = Client()
    c.force_login(volunteer)
    page = c.get("/api/docs/").content.decode()
    assert not inline_scripts(page), "Swagger UI must not inline its start-up script"
    script = re.search(r'<script src="([^"]*script[^"]*)"', page)
    assert script, page
    js = c.get(script.group(1).replace("&amp;", "&"))
    assert js.status_code == 200
    assert "javascript" in js["Content-Type"]
