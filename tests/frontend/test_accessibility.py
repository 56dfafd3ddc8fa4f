"""axe-core on every page, as every role: no serious or critical violation anywhere.

The pages come from the URL conf itself (``tests.security.urlwalk``), each filled in with a real object of the
role-matrix world (an alert, a campaign, a subject, a model version…), plus an active scored model so the score
bar shows, and a second version so the comparison renders. A page counts as reachable by a role when a GET
answers 200 with HTML for that role. One browser, one tab per role, so the walk stays short.

The whole report is kept in var/screens/axe_report.json (every violation, minor ones too) for a person to read.
The same walk checks that every stamp's text alternative says what it shows; the figures' own words (drift
markers, the light curve's summary) are checked on the figures.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.conftest import PASSWORD
from tests.frontend.helpers import log_in
from tests.security.rolematrix_world import ROLES, build_role_world, url_for
from tests.security.urlwalk import walk

REPORT = Path(__file__).resolve().parents[2] / "var" / "screens" / "axe_report.json"
BLOCKING = ("serious", "critical")
# Minor by axe's scale, yet named in the accessibility review: a header cell with nothing for a screen reader.
ALSO_BLOCKING = ("empty-table-header",)
# Pages not Blink's own: the Django admin and the API browsers (Swagger UI, ReDoc) come as their projects ship
# them, and the log-out route answers only POST.
NOT_OURS = ("api-docs", "api-redoc", "api-schema", "logout")
# A stamp's alt: which image, of what, in which stretch ("Science cutout of ZTF18abc, log stretch").
STAMP_ALT = re.compile(r"^(Example: )?(Science|Reference|Template|Difference|[Ss]cience|[Tt]emplate|[Dd]ifference) "
                       r"cutout of .+, (linear|log|asinh) stretch$")  # fmt: skip
STAMP_ALTS = "() => [...document.images].filter(i => i.src.includes('/cutouts/')).map(i => i.alt)"


def answer_with_grey_png(route) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (3 * 63 + 12, 63), (90, 90, 90)).save(buffer, format="PNG")
    route.fulfill(status=200, content_type="image/png", body=buffer.getvalue())


@pytest.fixture
def a11y_world(live_campaign, demo_alerts, scientist, other_scientist, volunteer, mllead, admin_user):
    from tests.classifiers.console_helpers import add_scores, make_version

    world = build_role_world(
        live_campaign=live_campaign, demo_alerts=demo_alerts, scientist=scientist,
        other_scientist=other_scientist, volunteer=volunteer, mllead=mllead, admin_user=admin_user,
    )  # fmt: skip
    # The role world's version 1 is a bare candidate; 2 and 3 have scored every alert, 2 is active.
    active = make_version(version=2, status="active", parent=world["version"])
    candidate = make_version(version=3, parent=active)
    add_scores(active, demo_alerts, [(i % 10) / 10 + 0.05 for i in range(len(demo_alerts))])
    add_scores(candidate, demo_alerts, [((i * 7) % 10) / 10 + 0.03 for i in range(len(demo_alerts))])
    world["compare"] = f"?a={active.pk}&b={candidate.pk}"
    return world


def pages_of(role: str, world) -> list[str]:
    """Every page of the URL conf that ``role`` opens with a 200 HTML answer."""
    from django.test import Client

    client = Client()
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    urls = []
    for route in walk():
        if route.is_admin or route.is_api or route.name in NOT_OURS:
            continue
        url = url_for(route, world)
        if route.name == "console-compare":
            url += world["compare"]
        response = client.get(url)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            urls.append(url)
    return urls


def settle(page) -> None:
    """Let the page's scripts fetch and draw (bokeh plots, thumbnails) before axe reads it."""
    # A live socket keeps some pages from ever going idle; what has drawn by then is enough.
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_load_state("networkidle", timeout=8_000)


def axe_violations(page) -> list[dict]:
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page).response["violations"]


def audit(page, where: str, report: dict, blocking: list[str]) -> None:
    """axe and the stamps' alt texts on the page as it stands; ``where`` names it in the report."""
    violations = axe_violations(page)
    report[where] = [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")} for n in v["nodes"]],
        }
        for v in violations
    ]
    for v in violations:
        if v["impact"] in BLOCKING or v["id"] in ALSO_BLOCKING:
            targets = ", ".join(" ".join(map(str, n["target"])) for n in v["nodes"][:4])
            blocking.append(f"{where}: {v['id']} ({v['impact']}) {v['help']} at {targets}")
    blocking += [f"{where}: stamp alt {alt!r}" for alt in page.evaluate(STAMP_ALTS) if not STAMP_ALT.match(alt)]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_every_page_as_every_role_has_no_serious_or_critical_violation(live_server, browser, a11y_world):
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report: dict[str, dict[str, list[dict]]] = {}
    blocking: list[str] = []
    visited = 0
    for role in ROLES:
        urls = pages_of(role, a11y_world)
        assert urls, f"{role} reaches no page at all"
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        # The stand-in versions have no network to explain with: answer for them, as the server would for a
        # real one, rather than let every page with a score wait on a failing model load.
        context.route("**/explanations/**", answer_with_grey_png)
        page = context.new_page()
        user = a11y_world["users"][role]
        if user is not None:
            log_in(page, live_server.url, user.username, password=PASSWORD)
        report[role] = {}
        for url in urls:
            started = time.monotonic()
            page.goto(live_server.url + url)
            settle(page)
            audit(page, f"{role} {url}", report[role], blocking)
            if page.locator("dialog[open]").count():  # the classify page's first-visit tutorial: the page too
                page.keyboard.press("Escape")
                audit(page, f"{role} {url} (dialog closed)", report[role], blocking)
            visited += 1
            print(f"{role} {url} {time.monotonic() - started:.1f}s")
            if role == "admin":  # every page once, to look at
                name = re.sub(r"[^a-z0-9]+", "_", url.split("?")[0]).strip("_") or "home"
                page.screenshot(path=str(REPORT.parent / f"a11y_{name}.png"), full_page=True)
        context.close()
    REPORT.write_text(json.dumps(report, indent=1))
    assert visited >= 30, f"only {visited} page visits: the walk lost pages"
    assert blocking == [], "\n".join(blocking)


def drift_nights(drifted_on: int) -> list[dict]:
    """Six nights of one variable, the first three the reference window, one of the others drifted."""
    keys = ("min", "p7", "p16", "p31", "p50", "p69", "p84", "p93", "max")
    return [
        {
            "night": dt.date(2026, 7, 1 + i),
            "percentiles": {"fwhm": dict(zip(keys, (1, 1.5, 2, 2.2, 2.4, 2.6, 2.8, 3.2, 3.6), strict=True))},
            "reference": i < 3,
            "statistics": {"fwhm": {"drifted": i == drifted_on, "psi": 0.5, "ks": 0.4, "n": 60}},
        }
        for i in range(6)
    ]


def test_a_drifted_night_is_marked_in_words_not_only_in_red():
    from bokeh.core.properties import value
    from bokeh.document import Document
    from bokeh.models import GlyphRenderer, Text

    from frontend.plots.console import drift_figure

    doc = Document.from_json(drift_figure("fwhm", "Seeing FWHM", drift_nights(drifted_on=5))["doc"])
    (words,) = [m for m in doc.models if isinstance(m, GlyphRenderer) and isinstance(m.glyph, Text)]
    assert words.glyph.text == value("drift")
    assert words.data_source.data["night"] == ["2026-07-06"]  # on the drifted night alone


def test_the_light_curve_says_in_words_what_it_draws():
    from frontend.plots.lightcurves import light_curve_figure

    points = [
        {"jd": 2460000.5, "fid": 1, "is_detection": True, "magpsf": 18.04, "sigmapsf": 0.1, "diffmaglim": 20.0},
        {"jd": 2460001.5, "fid": 2, "is_detection": True, "magpsf": 18.52, "sigmapsf": 0.1, "diffmaglim": 20.0},
        {"jd": 2459998.5, "fid": 2, "is_detection": False, "magpsf": None, "sigmapsf": None, "diffmaglim": 20.3},
    ]
    fig = light_curve_figure(points, alert_jd=2460001.5)
    assert fig.html_attributes == {
        "role": "figure",
        "aria-label": "Light curve in g and r: 2 detections from magnitude 18.04 to 18.52, 1 upper limit; "
        "brighter is up",
    }
    assert fig.toolbar.logo is None
