"""Bokeh figures of the pages, as ``json_item`` dicts for ``Bokeh.embed.embed_item`` (BokehJS is served locally)."""
