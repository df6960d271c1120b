"""The SLA report's plots, drawn on the server as SVG: per measure, a horizontal bar chart of the
median and the 90th percentile by crisis type. No script and no style attribute (the console's
Content-Security-Policy allows neither): colours are SVG presentation attributes. Each chart is
an image with a title and a description that says every value, and each bar has its own title.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from api.routes.reports import SlaReportRow
from domain.sla import MEASURES, Measure

WIDTH, LABEL_WIDTH, VALUE_WIDTH = 640, 150, 90
BAR_AREA = WIDTH - LABEL_WIDTH - VALUE_WIDTH
BAR_HEIGHT, ROW_GAP, TOP = 12, 10, 30
ROW_HEIGHT = 2 * BAR_HEIGHT + ROW_GAP
INK = "#1b1f24"
# Median and 90th percentile: two blues of the console's brand, apart enough to tell.
FILLS = {"median": "#0b4f8a", "p90": "#7fa7cf"}
STATISTIC_WORDS = {"median": "median", "p90": "90th percentile"}


def duration_words(seconds: float | None) -> str:
    """A duration as a supervisor reads it: seconds, minutes, hours or days."""
    if seconds is None:
        return "no data"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def share_words(share: float | None) -> str:
    return "no data" if share is None else f"{share * 100:.1f}%"


@dataclass(frozen=True)
class Plot:
    measure: Measure
    svg: Markup


def _values(row: SlaReportRow, measure: Measure) -> dict[str, float | None]:
    return {
        "median": getattr(row, f"{measure.name}_median_seconds"),
        "p90": getattr(row, f"{measure.name}_p90_seconds"),
    }


def _label(crisis_type: str) -> str:
    return "all types" if crisis_type == "all" else crisis_type.replace("_", " ")


def _row(row: SlaReportRow, measure: Measure, y: int, longest: float) -> str:
    values = _values(row, measure)
    label = escape(_label(row.crisis_type))
    parts = [
        f'<g data-crisis-type="{escape(row.crisis_type)}">',
        f'<text x="{LABEL_WIDTH - 8}" y="{y + BAR_HEIGHT + 4}" text-anchor="end" '
        f'fill="{INK}" font-size="13">{label}</text>',
    ]
    for offset, (statistic, value) in enumerate(values.items()):
        top = y + offset * BAR_HEIGHT
        words = f"{label}, {STATISTIC_WORDS[statistic]}: {duration_words(value)}"
        if value is None:
            parts.append(
                f'<text x="{LABEL_WIDTH}" y="{top + BAR_HEIGHT - 2}" fill="{INK}" '
                f'font-size="11" data-statistic="{statistic}">'
                f"{STATISTIC_WORDS[statistic]}: no data</text>"
            )
            continue
        width = max(1.0, BAR_AREA * value / longest) if longest else 1.0
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{top}" width="{width:.1f}" height="{BAR_HEIGHT - 1}" '
            f'fill="{FILLS[statistic]}" data-statistic="{statistic}" data-seconds="{value!r}">'
            f"<title>{words}</title></rect>",
        )
        parts.append(
            f'<text x="{LABEL_WIDTH + width + 4:.1f}" y="{top + BAR_HEIGHT - 2}" fill="{INK}" '
            f'font-size="11" aria-hidden="true">{duration_words(value)}</text>'
        )
    parts.append("</g>")
    return "".join(parts)


def _legend() -> str:
    parts = []
    for n, (statistic, fill) in enumerate(FILLS.items()):
        x = LABEL_WIDTH + n * 140
        parts.append(
            f'<rect x="{x}" y="6" width="12" height="12" fill="{fill}"/>'
            f'<text x="{x + 18}" y="16" fill="{INK}" font-size="12">'
            f"{STATISTIC_WORDS[statistic].capitalize()}</text>"
        )
    return f'<g aria-hidden="true">{"".join(parts)}</g>'


def bar_chart(measure: Measure, rows: Sequence[SlaReportRow]) -> Markup:
    """One measure's chart over `rows` (the crisis types to show, then `all`)."""
    longest = max((v or 0.0 for r in rows for v in _values(r, measure).values()), default=0.0)
    height = TOP + ROW_HEIGHT * max(len(rows), 1)
    ident = f"sla-plot-{measure.name}"
    described = "; ".join(
        f"{_label(r.crisis_type)}: "
        + ", ".join(
            f"{STATISTIC_WORDS[s]} {duration_words(v)}" for s, v in _values(r, measure).items()
        )
        for r in rows
    )
    body = [_row(r, measure, TOP + n * ROW_HEIGHT, longest) for n, r in enumerate(rows)]
    if not rows:
        body = [f'<text x="{LABEL_WIDTH}" y="{TOP + 14}" fill="{INK}">No incidents.</text>']
    return Markup(  # noqa: S704 (every value in it is escaped or a number)
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sla-plot" role="img" '
        f'viewBox="0 0 {WIDTH} {height}" width="100%" data-measure="{measure.name}" '
        f'aria-labelledby="{ident}-title {ident}-desc">'
        f'<title id="{ident}-title">{escape(measure.label)}: median and 90th percentile '
        f"by crisis type</title>"
        f'<desc id="{ident}-desc">{escape(described) or "No incidents."}</desc>'
        f"{_legend()}{''.join(body)}</svg>"
    )


def sla_plots(rows: Sequence[SlaReportRow]) -> list[Plot]:
    """A chart per measure, over the crisis types that had incidents and the row `all`."""
    shown = [r for r in rows if r.incidents or r.crisis_type == "all"]
    return [Plot(measure, bar_chart(measure, shown)) for measure in MEASURES]
