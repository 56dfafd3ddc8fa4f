"""Every version's figure comes from one evaluation, stored when its training ends, on the task's fixed held-out
set beside the active version: the compare page has figures for a new candidate at once, the versions table, the
compare page and the loop page show the same number, and the decision states both figures and its margin."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from classifiers.labelled import heldout_set
from classifiers.reference_sets import heldout_figures
from classifiers.runs.requests import request_run
from classifiers.runs.worker import execute_run


@pytest.fixture
def trained(settings, demo_alerts, braai_version):
    """A one-epoch candidate trained against an active version, promoted by a margin wide enough to let it pass.
    The salt puts both classes of the 60 demo alerts in the held-out bucket, so its ROC AUC is defined."""
    settings.BLINK = {**settings.BLINK, "HELDOUT_SALT": "c", "PROMOTE_MARGIN": 1.0}
    run, _ = request_run(
        task="real_bogus", options={"epochs": 1, "batch_size": 32, "promote": "if_not_worse"}, enqueue=False
    )
    outcome = execute_run(run.pk)
    assert outcome["status"] == "succeeded", outcome
    run.refresh_from_db()
    return {"run": run, "candidate": run.version, "active": braai_version}


def _figure(page: str, version_id: int, column: int) -> str:
    """The text of one numeric cell of a version's row in the versions table."""
    row = re.search(rf'<tr data-version="{version_id}">(.*?)</tr>', page, re.S).group(1)
    return re.findall(r'<td class="num">([^<]*)</td>', row)[column]


def test_the_compare_page_has_figures_for_a_new_candidate_right_after_training(trained, client_for, mllead):
    candidate, active = trained["candidate"], trained["active"]
    page = client_for(mllead).get(reverse("console-compare"), {"a": active.pk, "b": candidate.pk})
    html = page.content.decode()
    n = len(heldout_set("real_bogus"))
    assert n > 0
    assert f"{n} labelled candidates" in html
    assert "No labelled candidate has a score from both versions" not in html
    assert "the fixed held-out set" in html
    assert 'id="roc-json"' in html


def test_the_versions_table_compare_and_loop_show_the_same_stored_figure(trained, client_for, mllead):
    candidate, active, run = trained["candidate"], trained["active"], trained["run"]
    stored = heldout_figures([candidate, active])
    client = client_for(mllead)

    versions = client.get(reverse("console-versions")).content.decode()
    compare = client.get(reverse("console-compare"), {"a": active.pk, "b": candidate.pk}).content.decode()
    loop = client.get(reverse("ml-loop")).content.decode()
    overview = json.loads(re.search(r'<script id="loop-data" type="application/json">(.*?)</script>', loop).group(1))
    evaluation = next(r for r in overview["runs"] if r["id"] == run.pk)["evaluation"]["metrics"]
    deltas = compare[compare.index('id="deltas"') :]
    auc_row = re.search(r"ROC AUC <span.*?</td>\s*<td class=\"num\">([^<]*)</td><td class=\"num\">([^<]*)</td>", deltas)

    for side, version, shown_in_compare in (
        ("candidate", candidate, auc_row.group(2)),
        ("active", active, auc_row.group(1)),
    ):
        figure = stored[version.pk]
        assert figure is not None
        assert figure["roc_auc"] is not None
        text = f"{figure['roc_auc']:.3f}"
        assert _figure(versions, version.pk, 6) == text  # the ROC AUC column (after the training labels)
        assert shown_in_compare == text
        assert evaluation[side]["roc_auc"] == figure["roc_auc"]
    assert f"held-out set · n {stored[candidate.pk]['n']}" in versions
    # The own test split of a version's training may still be shown, said so, with its size.
    assert f"own test split at training: ROC AUC {candidate.metrics['roc_auc']:.3f}, n {candidate.metrics['n']}" in (
        versions
    )
    active_row = next(t for t in overview["tasks"] if t["task"] == "real_bogus")["active"]
    assert active_row["heldout_roc_auc"] == stored[active_row["id"]]["roc_auc"]


def test_the_decision_states_both_figures_and_its_margin(trained, api_for, mllead):
    run, candidate, active = trained["run"], trained["candidate"], trained["active"]
    stored = heldout_figures([candidate, active])
    cand, act = stored[candidate.pk]["roc_auc"], stored[active.pk]["roc_auc"]
    decision = run.progress[-1]
    assert decision["phase"] == "promoted"
    assert decision["reason"].startswith(f"held-out ROC AUC {cand:.3f} vs active {act:.3f} (")
    assert "within the 1 margin, promoted" in decision["reason"]
    assert decision["heldout"] == {"candidate_roc_auc": cand, "active_roc_auc": act, "margin": 1.0}
    detail = api_for(mllead).get(reverse("api-loop-run", args=[run.pk])).json()
    assert detail["decision"]["reason"] == decision["reason"]
