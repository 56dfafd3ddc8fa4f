"""core.urls: every URL Blink hands out comes from a named route, and pages and scripts never type one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

from core import urls
from frontend.routing import websocket_urlpatterns

ROOT = Path(__file__).resolve().parents[2]
CANDID = 3454420621301015004  # past 2**53, as ZTF candids are


def _patterns(resolver, prefix=""):
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.app_name == "admin":
                continue
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


@pytest.mark.parametrize(
    ("url", "name", "kwargs"),
    [
        (urls.cutout_url(CANDID, "difference"), "api-alert-cutout", {"candid": CANDID, "kind": "difference"}),
        (urls.alert_api_url(CANDID), "api-alert", {"candid": CANDID}),
        (urls.lightcurve_url(CANDID), "api-alert-lightcurve", {"candid": CANDID}),
        (urls.lightcurve_plot_url(CANDID), "api-alert-lightcurve-plot", {"candid": CANDID}),
        (urls.explanation_url(CANDID, "gradcam"), "api-alert-explanation", {"candid": CANDID, "kind": "gradcam"}),
        (urls.alert_page_url(CANDID), "alert", {"candid": CANDID}),
        (urls.talk_thread_url(CANDID), "talk-thread", {"candid": CANDID}),
        (urls.talk_tag_url("bogus"), "talk-tag", {"tag": "bogus"}),
        (urls.talk_object_url("ZTF21aaaaaaa"), "talk-object", {"object_id": "ZTF21aaaaaaa"}),
        (urls.tutorial_step_api_url("demo", 3), "api-campaign-tutorial-step", {"slug": "demo", "pk": 3}),
        (urls.field_guide_entry_api_url("demo", 4), "api-campaign-field-guide-entry", {"slug": "demo", "pk": 4}),
    ],
)
def test_each_helper_builds_the_url_its_named_route_resolves(url, name, kwargs):
    match = resolve(url)
    assert match.url_name == name
    assert match.kwargs == kwargs


def test_an_explanation_of_a_named_version_carries_it_in_the_query():
    url = urls.explanation_url(CANDID, "saliency", version_id=12)
    path, _, query = url.partition("?")
    assert resolve(path).url_name == "api-alert-explanation"
    assert query == "version=12"


def test_the_url_sets_handed_to_pages_resolve_to_their_routes():
    assert {k: resolve(v).url_name for k, v in urls.classify_api_urls("demo").items()} == {
        "next": "classify-next",
        "votes": "classify-vote",
        "progress": "classify-progress",
        "tutorial_seen": "classify-tutorial-seen",
    }
    assert {k: resolve(v).url_name for k, v in urls.campaign_page_urls("demo").items()} == {
        "classify": "classify",
        "builder": "campaigns-edit",
        "inspect": "campaigns-inspect",
        "dashboard": "campaigns-dashboard",
    }
    assert {k: resolve(v).url_name for k, v in urls.campaign_api_urls("demo").items()} == {
        "campaign": "api-campaign",
        "state": "api-campaign-state",
        "add_matching": "api-campaign-add-matching",
        "tutorial": "api-campaign-tutorial",
        "field_guide": "api-campaign-field-guide",
    }
    assert set(urls.cutout_urls(CANDID, ("science", "template"))) == {"science", "template"}


def test_the_socket_paths_match_the_websocket_routes():
    """Channels routes cannot be reversed: the paths core.urls states must still match frontend.routing."""
    paths = {
        urls.campaign_live_socket_path("demo").lstrip("/"): "ws-campaign",
        urls.TRAINING_SOCKET_PATH.lstrip("/"): "ws-training",
    }
    for path, name in paths.items():
        matched = [p.name for p in websocket_urlpatterns if p.pattern.match(path)]
        assert matched == [name], path


def test_every_route_has_a_name():
    unnamed = [route for route, pattern in _patterns(get_resolver()) if not pattern.name]
    unnamed += [str(p.pattern) for p in websocket_urlpatterns if not p.name]
    assert unnamed == []


HAND_TYPED_IN_TEMPLATE = re.compile(r'\b(?:href|src|action|data-[a-z-]+)="/(?!/)')
HAND_TYPED_IN_SCRIPT = re.compile(r"""["'](?:/api/(?!["'])|/ws/|/ml/|/campaigns/|/talk/|/alerts/|/classify/)""")
HAND_TYPED_IN_PYTHON = re.compile(r"""f?["'](?:/api/(?!["'])|/ml/|/campaigns/manage|/talk/|/alerts/\{|/classify/)""")


def test_templates_link_with_the_url_tag():
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
        for path in sorted((ROOT / "frontend" / "templates").rglob("*.html"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if HAND_TYPED_IN_TEMPLATE.search(line)
    ]
    assert offenders == []


def test_page_scripts_take_their_urls_from_the_page():
    js = ROOT / "frontend" / "static" / "frontend" / "js"
    scripts = sorted(js.rglob("*.js"))  # a page's scripts may sit in a folder of their own
    offenders = [
        f"{path.relative_to(js)}:{n}: {line.strip()[:100]}"
        for path in scripts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if HAND_TYPED_IN_SCRIPT.search(line) and not line.lstrip().startswith("//")
    ]
    assert offenders == []


def test_app_code_builds_urls_with_core_urls():
    """No view, selector or serializer types a path: a route that moves changes in its URL conf only."""
    offenders = []
    for app in ("core", "labeling", "classifiers", "activelearning", "frontend", "fixtures"):
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for n, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if HAND_TYPED_IN_PYTHON.search(code) and "path(" not in code:
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:100]}")
    assert offenders == []
