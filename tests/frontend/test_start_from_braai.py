"""Browser test of starting from the published braai: the ML lead finds d6_m7 active with its provenance on the
versions page, fine-tunes it from there (convolutions frozen), and reads the same reference-set figures for
d6_m7 and for the fine-tuned candidate on the versions, compare and loop pages.

Needs ../shared/models/braai (the weights) and ../shared/data/ztf (real alerts with ``drb``, for the braai
agreement set); skips without them. Screenshots (looked at): test-artifacts/screenshots/braai_*.png.
"""

from __future__ import annotations

import pytest
from django.db import connections

from tests.conftest import PASSWORD, settled_campaign
from tests.frontend.helpers import SCREENSHOTS, log_in_when_asked

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

GOLD_SET = "Demo gold"
AGREEMENT_SET = "braai agreement"


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"braai_{name}.png"), full_page=True)


@pytest.fixture
def braai_world(settings, tmp_path, demo_alerts, scientist, mllead, real_data, published_braai):
    """Real alerts and the demo alerts; a campaign settled by consensus whose subjects carry gold answers; the
    published braai imported as ``setup_demo`` does (d6_m7 active); a gold set and a braai-agreement set."""
    from classifiers.reference_sets import create_reference_set
    from fixtures.published_braai import import_published_models
    from labeling.ingest import ingest_paths
    from labeling.models import Subject

    settings.BLINK = {**settings.BLINK, "MODEL_CACHE_DIR": tmp_path / "models"}
    report = ingest_paths([real_data / "avro"])
    assert report.rejected == 0, report.errors
    campaign, subjects = settled_campaign(
        owner=scientist, alerts=demo_alerts, name="Demo real/bogus review", slug="demo-review"
    )
    Subject.objects.filter(pk__in=[s.pk for s in subjects]).update(gold_answer="bogus")
    Subject.objects.filter(pk__in=[s.pk for s in subjects if s.alert.demo_truth == "real"]).update(gold_answer="real")
    imported = {i.name: i.version for i in import_published_models(published_braai)}
    create_reference_set(actor=mllead, name=GOLD_SET, kind="gold", campaign=campaign, margin=0.05)
    create_reference_set(actor=mllead, name=AGREEMENT_SET, kind="braai_agreement", margin=0.05)
    return campaign, imported["d6_m7"]


def figure(page, selector: str) -> str:
    return " ".join(page.locator(selector).inner_text().split())


def versions_figures(page, sets: dict[str, int], version_id: int) -> dict[str, str]:
    row = f"table.reference-table tr[data-version='{version_id}']"
    return {name: figure(page, f"{row} td[data-set='{pk}']") for name, pk in sets.items()}


def compare_figures(page, sets: dict[str, int], version_id: int) -> dict[str, str]:
    return {
        name: figure(page, f"#reference-sets tr[data-set='{pk}'] td[data-version='{version_id}']")
        for name, pk in sets.items()
    }


def loop_figures(page, selector: str) -> dict[str, str]:
    """The loop page's reference lines, ``name — note: figure`` each, as ``{name: figure}``."""
    out = {}
    for text in page.locator(selector).all_inner_texts():
        name, _, rest = " ".join(text.split()).partition(" — ")
        out[name] = rest.split(": ", 1)[1]
    return out


def test_the_ml_lead_fine_tunes_the_published_braai_and_every_page_shows_the_same_reference_figures(
    live_server, browser_page, mllead, braai_world
):
    from classifiers.models import ModelVersion, ReferenceSet, TrainingRun
    from classifiers.runs.worker import execute_run

    campaign, d6_m7 = braai_world
    sets = dict(ReferenceSet.objects.values_list("name", "pk"))
    page = browser_page

    log_in_when_asked(page, live_server.url, "/ml/versions/", mllead.username, PASSWORD)
    row = page.locator(f"table.versions-table tr[data-version='{d6_m7.pk}']")
    assert row.locator(".status").inner_text() == "active"
    provenance = " ".join(row.locator(".provenance").inner_text().split())
    assert "imported d6_m7 from github.com/dmitryduev/braai" in provenance
    assert "licence MIT" in provenance
    assert d6_m7.provenance["sha256"][:12] in provenance
    assert "input: row" in row.inner_text()
    assert page.get_by_text("a model's opinion, not human labels").first.is_visible()
    shot(page, "versions")

    form = page.locator(f"#fine-tune-{d6_m7.pk}")
    form.locator("summary").click()
    form.locator("select[name=labels]").select_option(campaign.slug)
    form.locator("input[name=epochs]").fill("2")
    form.locator("input[name=freeze_conv]").check()
    shot(page, "fine_tune_form")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/ml/loop/")
    assert page.locator(".messages").get_by_text(f"a fine-tune of {d6_m7.label}").is_visible()
    run = TrainingRun.objects.get()
    assert run.options["from_version"] == d6_m7.pk
    assert run.options["freeze_conv"] is True

    # The worker's part, done here: train, register, evaluate on the held-out and reference sets, keep.
    outcome = execute_run(run.pk)
    assert outcome["status"] == "succeeded", outcome
    run.refresh_from_db()
    child = ModelVersion.objects.defer("weights").get(pk=run.version_id)
    assert child.parent_id == d6_m7.pk
    assert child.hyperparameters["input_recipe"] == d6_m7.hyperparameters["input_recipe"]

    page.goto(f"{live_server.url}/ml/versions/")
    active_on_versions = versions_figures(page, sets, d6_m7.pk)
    child_on_versions = versions_figures(page, sets, child.pk)
    assert all("ROC AUC" in f for f in [*active_on_versions.values(), *child_on_versions.values()]), (
        active_on_versions,
        child_on_versions,
    )
    child_row = page.locator(f"table.versions-table tr[data-version='{child.pk}']")
    assert d6_m7.label in child_row.inner_text()  # its parent
    shot(page, "versions_after")

    page.goto(f"{live_server.url}/ml/compare/?a={d6_m7.pk}&b={child.pk}")
    assert compare_figures(page, sets, d6_m7.pk) == active_on_versions
    assert compare_figures(page, sets, child.pk) == child_on_versions
    shot(page, "compare")

    page.goto(f"{live_server.url}/ml/loop/")
    page.wait_for_selector("#task-rows .meta.reference")
    assert loop_figures(page, "#task-rows .meta.reference") == active_on_versions
    page.click(f"#runs-body tr[data-run='{run.pk}']")
    page.wait_for_selector("#eval-table tr.reference")
    assert f"from {d6_m7.label}, convolutions frozen" in page.locator("#run-steps").inner_text()
    evaluation = page.locator("#eval-table tr.reference")
    for i in range(evaluation.count()):
        name = evaluation.nth(i).locator("th").inner_text().split(" — ")[0]
        cells = evaluation.nth(i).locator("td")
        assert " ".join(cells.nth(0).inner_text().split()) == child_on_versions[name]
        assert " ".join(cells.nth(1).inner_text().split()) == active_on_versions[name]
    assert evaluation.count() == len(sets)
    shot(page, "loop")

    assert [e for e in page.js_errors if "/ws/" not in e] == []
    # The ORM calls above ran beside Playwright's greenlet on a connection of their own: close it, or the test
    # database cannot be dropped.
    connections.close_all()
