"""Light curves: points gathered from every alert of an object, deduplicated, served in time order."""

from __future__ import annotations

import pytest

from labeling.lightcurves import light_curve_json
from labeling.models import Alert, LightCurvePoint

pytestmark = pytest.mark.django_db


def test_an_objects_points_are_stored_once_across_its_alerts(demo_alerts):
    object_id = next(o for o in {a.object_id for a in demo_alerts} if sum(a.object_id == o for a in demo_alerts) > 1)
    alerts = Alert.objects.filter(object_id=object_id).order_by("jd")
    points = LightCurvePoint.objects.filter(object_id=object_id)
    keys = list(points.values_list("jd", "fid"))
    assert len(keys) == len(set(keys))
    # The earlier alert is a detection in the later alert's history, stored once.
    first = alerts[0]
    assert points.filter(jd=first.jd, fid=first.fid, is_detection=True).count() == 1


def test_the_json_has_detections_and_upper_limits_in_time_order(demo_alerts):
    alert = max(demo_alerts, key=lambda a: LightCurvePoint.objects.filter(object_id=a.object_id).count())
    data = light_curve_json(alert)
    jds = [p["jd"] for p in data["points"]]
    assert jds == sorted(jds)
    assert data["n_detections"] >= 1
    assert data["n_upper_limits"] >= 1
    limit = next(p for p in data["points"] if not p["is_detection"])
    assert limit["magpsf"] is None
    assert limit["diffmaglim"] is not None
