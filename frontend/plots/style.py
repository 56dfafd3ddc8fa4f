"""One look for every bokeh figure: the page's dark panel, so a plot sits in its card rather than on white.

Light curves, the campaign dashboard and the ML lead console all style their figures here.
"""

from __future__ import annotations

PANEL, GRID, TEXT, MUTED = "#161b22", "#30363d", "#e6edf3", "#9da7b3"


def dark_panel(fig, *, axis_label_colour: str = TEXT, font_size: str | None = None) -> None:
    """Panel, outline, axes and grid in the page's colours; ``font_size`` sets tick and axis labels alike."""
    fig.background_fill_color = PANEL
    fig.border_fill_color = PANEL
    fig.outline_line_color = GRID
    fig.title.text_color = TEXT
    for axis in (fig.xaxis, fig.yaxis):
        axis.axis_line_color = MUTED
        axis.major_tick_line_color = MUTED
        axis.minor_tick_line_color = MUTED
        axis.major_label_text_color = TEXT
        axis.axis_label_text_color = axis_label_colour
        axis.axis_label_text_font_style = "normal"
        if font_size:
            axis.major_label_text_font_size = font_size
            axis.axis_label_text_font_size = font_size
    fig.grid.grid_line_color = GRID
    fig.grid.grid_line_alpha = 0.6


def dark_legend(fig, *, font_size: str, alpha: float = 0.85) -> None:
    """The figure's legend on the panel colour; a click on an entry hides its glyphs."""
    fig.legend.background_fill_color = PANEL
    fig.legend.background_fill_alpha = alpha
    fig.legend.border_line_color = GRID
    fig.legend.label_text_color = TEXT
    fig.legend.label_text_font_size = font_size
    fig.legend.click_policy = "hide"
