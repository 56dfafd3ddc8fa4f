"""Error pages a volunteer meets: 403, 404, 400 and 500 in the site's frame (its header and navigation), never
Django's debug page with its list of every URL pattern; and `make run` serves with DEBUG off, static files and
BokehJS included."""

from __future__ import annotations

import asyncio
import subprocess

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import override_settings
from django.urls import path

from config import urls as config_urls
from core.roles import public

pytestmark = pytest.mark.django_db

# What Django's technical 404 page says when it lists the URL conf.
URL_LIST_MARKERS = ("URLconf", "campaigns/manage/<slug:slug>/edit/", "api/schema/")


def assert_in_the_sites_frame(html: str) -> None:
    assert '<header class="topbar">' in html
    assert 'href="/"' in html  # the way back to the campaigns
    assert "blink.css" in html
    for marker in URL_LIST_MARKERS:
        assert marker not in html


@override_settings(DEBUG=False)
@pytest.mark.parametrize("path", ["/alerts/123456789/", "/classify/no-such-campaign/", "/talk/alert/123456789/"])
def test_a_missing_page_is_a_404_in_the_sites_frame(client_for, volunteer, path):
    response = client_for(volunteer).get(path)
    assert response.status_code == 404
    html = response.content.decode()
    assert_in_the_sites_frame(html)
    assert "Nothing here" in html
    assert f"<code>{path}</code>" in html
    # The signed-in volunteer keeps the navigation of every page.
    assert 'aria-label="Main"' in html
    assert ">Talk</a>" in html
    assert "vera" in html


@override_settings(DEBUG=False)
def test_an_unknown_address_lists_no_url_patterns(client_for):
    response = client_for(None).get("/no/such/page/")
    assert response.status_code == 404
    assert_in_the_sites_frame(response.content.decode())


@override_settings(DEBUG=False)
def test_a_page_without_the_role_is_a_403_that_says_which_role_in_the_sites_frame(client_for, volunteer):
    response = client_for(volunteer).get("/campaigns/manage/")
    assert response.status_code == 403
    html = response.content.decode()
    assert_in_the_sites_frame(html)
    assert "This page is not open to you" in html
    assert "This page needs the role: scientist." in html
    assert ">Talk</a>" in html


@override_settings(DEBUG=False)
def test_an_api_404_stays_json(client_for, volunteer):
    response = client_for(volunteer).get("/api/no-such-endpoint/")
    assert response.status_code == 404
    assert response.json()["detail"] == "Not found."


def test_a_server_error_page_is_in_the_sites_frame_without_the_request():
    # Django renders 500.html (and 400.html) with no context at all, so the page must not need one.
    from django.template.loader import render_to_string

    for name, words in (("500.html", "Something went wrong"), ("400.html", "could not read that request")):
        html = render_to_string(name)
        assert_in_the_sites_frame(html)
        assert words in html


def _broken_page(request):
    raise RuntimeError("a page that fails")


# This module doubles as a URL conf: the site's own patterns and handlers plus one page that fails.
urlpatterns = [path("broken/", public(_broken_page)), *config_urls.urlpatterns]
handler500 = config_urls.handler500


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_a_server_error_is_answered_with_the_500_page(client_for, volunteer):
    client = client_for(volunteer)
    client.raise_request_exception = False
    response = client.get("/broken/")
    assert response.status_code == 500
    html = response.content.decode()
    assert_in_the_sites_frame(html)
    assert "Something went wrong on our side" in html
    assert "a page that fails" not in html
    assert "Traceback" not in html


def test_make_run_serves_with_debug_off_and_a_key_kept_under_var():
    recipe = subprocess.run(
        ["make", "--dry-run", "--always-make", "run"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    daphne = next(line for line in recipe.splitlines() if "daphne" in line)
    assert 'DJANGO_DEBUG="${DJANGO_DEBUG:-0}"' in daphne
    assert "$(cat var/secret_key)" in daphne
    # The key is made once, by Python's secrets module, into the git-ignored var/ folder.
    assert "secrets.token_urlsafe(64)" in recipe
    assert "> var/secret_key" in recipe


async def _asgi_get(application, path: str) -> tuple[int, bytes]:
    """GET ``path`` from an ASGI application; (status, body). A file response ends with a message that may
    carry no body (which channels' HttpCommunicator refuses), so the messages are read here."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
    }  # fmt: skip
    sent: list[dict] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # the client stays connected until the response is complete

    async def send(message):
        sent.append(message)

    await application(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


@override_settings(DEBUG=False)
@pytest.mark.parametrize("path", ["/static/frontend/css/blink.css", "/static/bokeh/bokeh.min.js"])
def test_with_debug_off_daphne_still_serves_static_files_and_bokehjs(path):
    from config.asgi import application

    status, body = async_to_sync(_asgi_get)(application, path)
    assert status == 200
    assert len(body) > 1000
