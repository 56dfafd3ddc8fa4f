"""The light curve's bokeh figure: magnitudes inverted, upper limits as open triangles, JSON for embed_item."""

from __future__ import annotations

import pytest
from bokeh.models import GlyphRenderer

from frontend.plots.lightcurves import light_curve_figure, light_curve_item


def test_the_figure_inverts_magnitudes_and_draws_limits_as_open_inverted_triangles():
    points = [
        {"jd": 2460000.5, "fid": 1, "is_detection": True, "magpsf": 18.0, "sigmapsf": 0.1, "diffmaglim": 20.0},
        {"jd": 2460001.5, "fid": 2, "is_detection": True, "magpsf": 18.5, "sigmapsf": 0.1, "diffmaglim": 20.0},
        {"jd": 2459998.5, "fid": 2, "is_detection": False, "magpsf": None, "sigmapsf": None, "diffmaglim": 20.3},
    ]
    fig = light_curve_figure(points, alert_jd=2460001.5)
    assert fig.y_range.flipped is True
    glyphs = [r.glyph for r in fig.renderers if isinstance(r, GlyphRenderer)]
    triangles = [g for g in glyphs if getattr(g, "marker", None) == "inverted_triangle"]
    assert len(triangles) == 1
    assert triangles[0].fill_alpha == 0.0
    labels = {item.label["value"] for item in fig.legend.items}
    assert labels == {"g detection", "r detection", "r upper limit"}


@pytest.mark.django_db
def test_the_bokeh_item_is_json_for_embed_item(demo_alerts):
    item = light_curve_item(demo_alerts[0])
    assert {"target_id", "root_id", "doc"} <= set(item)
