"""The classify page's campaign counter in Debian's chromium (issue 21): a fast volunteer sees the stored count
after each vote, not one a second old, and "100%" once every candidate is done.

Screenshot (looked at): var/screens/live_counter_done.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.frontend.helpers import log_in
from tests.frontend.test_classify import wait_for_new_candidate, wait_until
from tests.labeling.classify_helpers import make_alerts, make_campaign

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENS = Path(__file__).resolve().parents[2] / "var" / "screens"
N_SUBJECTS = 6


def test_a_fast_volunteer_sees_the_stored_count_and_100_percent_at_the_end(live_server, browser, scientist):
    from django.contrib.auth import get_user_model

    from fixtures.demo_users import DEMO_PASSWORD
    from labeling.models import TutorialSeen, Vote
    from labeling.progress import forget_progress

    forget_progress()
    campaign = make_campaign(scientist, make_alerts(N_SUBJECTS), slug="counter-page", retire_after=1)
    volunteer = get_user_model().objects.create_user("fast-volunteer", password=DEMO_PASSWORD)
    campaign.volunteers.add(volunteer)  # listed by the scientist: each vote counts in full and retires its subject
    TutorialSeen.objects.create(campaign=campaign, volunteer=volunteer)
    page = browser.new_page(viewport={"width": 1366, "height": 800})
    log_in(page, live_server.url, "fast-volunteer", f"/classify/{campaign.slug}/")

    current = wait_for_new_candidate(page, "")
    for i in range(N_SUBJECTS):
        page.keyboard.press("r")
        page.keyboard.press("Enter")
        if i < N_SUBJECTS - 1:
            current = wait_for_new_candidate(page, current)
    assert wait_until(page, lambda: Vote.objects.filter(campaign=campaign).count() == N_SUBJECTS)

    def counter_reads_stored() -> bool:
        return page.locator("#live-count").inner_text().strip() == str(N_SUBJECTS)

    assert wait_until(page, counter_reads_stored, timeout=5.0), page.locator("#live-count").inner_text()
    assert page.locator("#retired-text").inner_text().startswith(f"100% of {N_SUBJECTS}")
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(1500)  # the page settles after its last vote
    assert page.locator("#live-count").inner_text().strip() == str(N_SUBJECTS)
    page.screenshot(path=str(SCREENS / "live_counter_done.png"))
