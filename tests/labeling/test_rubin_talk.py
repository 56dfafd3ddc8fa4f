"""Talk about a Rubin alert: the thread states its cutouts' orientation as the alert page does, and a search by a
Rubin object identifier (a diaObjectId, or "ss" + an asteroid's ssObjectId) finds the object."""

from __future__ import annotations

import pytest

from core.urls import talk_object_url, talk_thread_url
from labeling.ingest import ingest_paths
from labeling.models import Alert
from tests.labeling.rubin_helpers import rubin_dir

pytestmark = pytest.mark.django_db


@pytest.fixture
def rubin_alert():
    ingest_paths([rubin_dir()], workers=0)
    # Rubin numbers a new diaObject after its first diaSource, so take one whose object id is no candid.
    candids = {str(c) for c in Alert.objects.values_list("candid", flat=True)}
    return next(a for a in Alert.objects.filter(survey="rubin").order_by("pk") if a.object_id not in candids)


def test_the_thread_states_the_rubin_cutouts_orientation(client_for, volunteer, rubin_alert):
    page = client_for(volunteer).get(talk_thread_url(rubin_alert.candid)).content.decode()
    assert "detector orientation" in page
    assert "north up, east left" not in page


def test_a_search_by_a_rubin_object_id_leads_to_the_object(client_for, volunteer, rubin_alert):
    response = client_for(volunteer).get("/talk/", {"q": rubin_alert.object_id})
    assert response.status_code == 302
    assert response["Location"] == talk_object_url(rubin_alert.object_id)
    # A number that is neither a candid nor an object stays on the index.
    assert client_for(volunteer).get("/talk/", {"q": "12345"}).status_code == 200
